import { createHash, createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { ensureKeyPair, type PemKeyPair } from '@govault/lib';

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

/** Loads `signing.key`/`signing.pub` from `dir`, generating a P-256 pair on first start. */
export function loadSigningKeys(dir: string): SigningKeyRing {
  return new SigningKeyRing([signingKey(ensureKeyPair(dir, 'signing'))]);
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
