import { createPrivateKey, createPublicKey } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { generateEcKeyPair, SERVICE_NAMES } from '../../../lib/src/keys.ts';
import { BAD_ENVIRONMENT, parseCommandEnv } from './command-env.ts';

export const keysEnvSchema = z.object({
  /** The volume the key layout is written into; each service mounts only its own subfolder. */
  KEYS_DIR: z.string().min(1).default('/keys'),
});

// lib's keys module by path: @govault/lib's index would load the whole server stack for a key file.
const SERVICES = SERVICE_NAMES;
/** The folder auth's AUTH_SIGNING_KEY_DIR points at, and the name auth's loadSigningKeys looks for. */
const SIGNING_FOLDER = 'auth-signing';
const SIGNING_NAME = 'signing';

/**
 * Private keys and the folders that hold them are for the container user alone (0600,
 * 0700; every GoVault container runs as the same user, node); public keys may be read by
 * anyone (0644).
 */
const PRIVATE_FILE = 0o600;
const PUBLIC_FILE = 0o644;
const KEY_FOLDER = 0o700;

export interface KeysOutcome {
  keysDir: string;
  /** Paths written by this run, relative to keysDir; empty on a second run. */
  written: string[];
}

/**
 * The least-privilege layout of the deployment contract:
 *   <svc>/<svc>.key + the four <svc>.pub   for gateway, auth, upload and files
 *   auth-signing/signing.key + signing.pub
 * Never overwrites a key: a file that exists is kept, so running it again (every
 * `compose up`) changes nothing, and a missing public key is derived from its private key.
 */
export function writeKeyLayout(keysDir: string): KeysOutcome {
  const written: string[] = [];
  const write = (folder: string, file: string, contents: string, mode: number) => {
    const path = join(keysDir, folder, file);
    if (existsSync(path)) return;
    writeFileSync(path, contents, { mode, flag: 'wx' });
    chmodSync(path, mode); // the umask may have taken bits off
    written.push(join(folder, file));
  };

  mkdirSync(keysDir, { recursive: true });
  for (const folder of [...SERVICES, SIGNING_FOLDER]) makeFolder(join(keysDir, folder));

  const publicKeys = new Map<string, string>();
  for (const service of SERVICES) {
    const privatePem = ensurePrivateKey(join(keysDir, service, `${service}.key`), (pem) => write(service, `${service}.key`, pem, PRIVATE_FILE));
    publicKeys.set(service, publicPemOf(privatePem));
  }
  for (const owner of SERVICES) {
    for (const [service, publicPem] of publicKeys) write(owner, `${service}.pub`, publicPem, PUBLIC_FILE);
  }
  const signingPem = ensurePrivateKey(join(keysDir, SIGNING_FOLDER, `${SIGNING_NAME}.key`), (pem) => write(SIGNING_FOLDER, `${SIGNING_NAME}.key`, pem, PRIVATE_FILE));
  write(SIGNING_FOLDER, `${SIGNING_NAME}.pub`, publicPemOf(signingPem), PUBLIC_FILE);
  return { keysDir, written };
}

function makeFolder(path: string): void {
  if (existsSync(path)) return;
  mkdirSync(path, { mode: KEY_FOLDER });
  chmodSync(path, KEY_FOLDER);
}

/**
 * The key at `path`, or a new P-256 one saved by `save`. (Not lib's ensureKeyPair: it makes
 * a new pair when only the public half is missing, which would replace a private key.)
 */
function ensurePrivateKey(path: string, save: (pem: string) => void): string {
  if (existsSync(path)) return readFileSync(path, 'utf8');
  const { privateKey } = generateEcKeyPair();
  save(privateKey);
  return privateKey;
}

const publicPemOf = (privatePem: string) => createPublicKey(createPrivateKey(privatePem)).export({ type: 'spki', format: 'pem' }).toString();

export async function runKeys(env: NodeJS.ProcessEnv): Promise<number> {
  const config = parseCommandEnv('keys', keysEnvSchema, env);
  if (!config) return BAD_ENVIRONMENT;
  const outcome = writeKeyLayout(config.KEYS_DIR);
  process.stdout.write(`${JSON.stringify({ command: 'keys', keysDir: outcome.keysDir, written: outcome.written })}\n`);
  return 0;
}
