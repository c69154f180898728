import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const SERVICE_NAMES = ['gateway', 'auth', 'upload', 'files'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export interface PemKeyPair {
  privateKey: string;
  publicKey: string;
}

export function generateEcKeyPair(): PemKeyPair {
  return generateKeyPairSync('ec', {
    namedCurve: 'P-256',
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
}

/**
 * Makes `<name>.key` (mode 0600) and `<name>.pub` in `dir` unless they exist. Dev and test
 * keys are generated at first start, never committed.
 */
export function ensureKeyPair(dir: string, name: string): PemKeyPair {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const privatePath = join(dir, `${name}.key`);
  const publicPath = join(dir, `${name}.pub`);
  if (!existsSync(privatePath) || !existsSync(publicPath)) {
    const pair = generateEcKeyPair();
    writeFileSync(privatePath, pair.privateKey, { mode: 0o600 });
    writeFileSync(publicPath, pair.publicKey, { mode: 0o644 });
  }
  return { privateKey: readFileSync(privatePath, 'utf8'), publicKey: readFileSync(publicPath, 'utf8') };
}

/** The service-to-service key pairs: one per service, in one folder the launcher prepares. */
export function ensureServiceKeys(dir: string): void {
  for (const name of SERVICE_NAMES) ensureKeyPair(dir, name);
}

/** Every `<name>.pub` in `dir`, by name. */
export function readPublicKeys(dir: string): Map<string, string> {
  const keys = new Map<string, string>();
  for (const file of readdirSync(dir)) {
    if (file.endsWith('.pub')) keys.set(file.slice(0, -4), readFileSync(join(dir, file), 'utf8'));
  }
  return keys;
}

export function readPrivateKey(dir: string, name: string): string {
  return readFileSync(join(dir, `${name}.key`), 'utf8');
}
