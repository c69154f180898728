import { createHash, createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureKeyPair, generateEcKeyPair, type PemKeyPair } from '@govault/lib';

export const SIGNING_ALGORITHM = 'ES256';

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicJwk: JsonWebKey;
}

export interface PublicJwk extends JsonWebKey {
  kid: string;
  alg: typeof SIGNING_ALGORITHM;
  use: 'sig';
}

/**
 * The keys access tokens are signed with, newest first: the newest signs, and every key
 * is published in the JWKS so that tokens signed before a rotation still verify.
 */
export class SigningKeyRing {
  constructor(private readonly keys: readonly SigningKey[]) {
    if (keys.length === 0) throw new Error('a signing key ring needs at least one key');
  }

  get current(): SigningKey {
    return this.keys[0]!;
  }

  jwks(): { keys: PublicJwk[] } {
    return { keys: this.keys.map((k) => ({ ...k.publicJwk, kid: k.kid, alg: SIGNING_ALGORITHM, use: 'sig' })) };
  }
}

/**
 * `signing.key` is the first key (made at first start); `signing-<UTC stamp>.key` files
 * are later ones, written by a rotation. The newest signs; all of them stay in the JWKS
 * until an operator deletes the file, so tokens signed before a rotation still verify.
 */
const KEY_FILE = /^signing(?:-(\d{8}T\d{9}Z))?\.key$/;

/** Loads every signing key in `dir`, newest first, generating a P-256 pair on first start. */
export function loadSigningKeys(dir: string): SigningKeyRing {
  // statSync follows symlinks: a Kubernetes Secret volume's names are links into its ..data folder.
  const files = () => readdirSync(dir).filter((name) => KEY_FILE.test(name) && statSync(join(dir, name)).isFile());
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (files().length === 0) ensureKeyPair(dir, 'signing');
  const newestFirst = files().sort((a, b) => stampOf(b).localeCompare(stampOf(a)));
  return new SigningKeyRing(newestFirst.map((file) => signingKeyFromPrivate(readFileSync(join(dir, file), 'utf8'))));
}

const stampOf = (file: string) => KEY_FILE.exec(file)?.[1] ?? '';

/** Writes a new key pair that signs from the next start of auth on; returns its kid. */
export function rotateSigningKey(dir: string, now = new Date()): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stamp = now.toISOString().replace(/[-:.]/g, ''); // 20250101T120000000Z
  const pair = generateEcKeyPair();
  writeFileSync(join(dir, `signing-${stamp}.key`), pair.privateKey, { mode: 0o600, flag: 'wx' });
  writeFileSync(join(dir, `signing-${stamp}.pub`), pair.publicKey, { mode: 0o644, flag: 'wx' });
  return signingKey(pair).kid;
}

function signingKeyFromPrivate(privatePem: string): SigningKey {
  const privateKey = createPrivateKey(privatePem);
  const publicJwk = createPublicKey(privateKey).export({ format: 'jwk' });
  return { kid: jwkThumbprint(publicJwk), privateKey, publicJwk };
}

export function signingKey(pair: PemKeyPair): SigningKey {
  const publicJwk = createPublicKey(pair.publicKey).export({ format: 'jwk' });
  return { kid: jwkThumbprint(publicJwk), privateKey: createPrivateKey(pair.privateKey), publicJwk };
}

/** RFC 7638: sha256 over the required members in lexicographic order, no whitespace. */
export function jwkThumbprint(jwk: JsonWebKey): string {
  if (jwk.kty !== 'EC') throw new Error(`unsupported key type ${jwk.kty}`);
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  return createHash('sha256').update(canonical).digest('base64url');
}
