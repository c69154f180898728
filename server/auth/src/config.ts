import { join } from 'node:path';
import { z } from 'zod';
import { env } from '@govault/lib';

export const authConfigSchema = z
  .object({
    AUTH_PORT: env.port(8081),
    HOST: env.host(),
    AUTH_DATABASE_URL: env.url(),
    INTERNAL_KEY_DIR: z.string().min(1),
    DATA_DIR: z.string().min(1).default('.data'),
    AUTH_SIGNING_KEY_DIR: env.optionalString(),
    ACCESS_TOKEN_TTL_SECONDS: env.seconds(900),
    REFRESH_TOKEN_TTL_SECONDS: env.seconds(2_592_000),
    // bcrypt's own bounds; tests use 4 to stay fast.
    BCRYPT_ROUNDS: z.coerce.number().int().min(4).max(31).default(12),
    /** Failed logins per email within LOGIN_FAILURE_WINDOW_SECONDS before the email must wait (429). */
    LOGIN_MAX_FAILURES: z.coerce.number().int().min(1).default(10),
    LOGIN_FAILURE_WINDOW_SECONDS: env.seconds(900),
    LOG_LEVEL: env.logLevel(),
  })
  .transform((v) => ({
    port: v.AUTH_PORT,
    host: v.HOST,
    databaseUrl: v.AUTH_DATABASE_URL,
    internalKeyDir: v.INTERNAL_KEY_DIR,
    dataDir: v.DATA_DIR,
    signingKeyDir: v.AUTH_SIGNING_KEY_DIR ?? join(v.DATA_DIR, 'auth-signing-keys'),
    accessTokenTtlSeconds: v.ACCESS_TOKEN_TTL_SECONDS,
    refreshTokenTtlSeconds: v.REFRESH_TOKEN_TTL_SECONDS,
    bcryptRounds: v.BCRYPT_ROUNDS,
    loginThrottle: { maxFailures: v.LOGIN_MAX_FAILURES, windowSeconds: v.LOGIN_FAILURE_WINDOW_SECONDS },
    logLevel: v.LOG_LEVEL,
  }));

export type AuthConfig = z.infer<typeof authConfigSchema>;
