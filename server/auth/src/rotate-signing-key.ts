import { resolve } from 'node:path';
import { z } from 'zod';
import { env, loadConfigOrExit } from '@govault/lib';
import { rotateSigningKey } from './token/signing-keys.ts';

/**
 * `npm run rotate-signing-key -w server/auth`: adds a new access-token signing key.
 * Restart auth (every instance) and it signs with the new key; the gateway fetches the
 * JWKS again when it meets the new kid. Delete the old key file once the access-token
 * TTL has passed: tokens it signed are then expired anyway.
 */
const config = loadConfigOrExit(
  z.object({ DATA_DIR: z.string().min(1).default('.data'), AUTH_SIGNING_KEY_DIR: env.optionalString() }),
);
// npm runs workspace scripts in the workspace folder; paths are meant from where npm was run.
const base = process.env.INIT_CWD ?? process.cwd();
const dir = resolve(base, config.AUTH_SIGNING_KEY_DIR ?? resolve(base, config.DATA_DIR, 'auth-signing-keys'));
process.stdout.write(`new signing key ${rotateSigningKey(dir)} in ${dir}; restart auth to sign with it\n`);
