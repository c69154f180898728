import { availableParallelism } from 'node:os';
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
    /** How long a rotated refresh token still gets its unused successor again (an answer lost to a reload); 0 turns it off. */
    REFRESH_TOKEN_REUSE_GRACE_SECONDS: z.coerce.number().int().min(0).max(300).default(30),
    // bcrypt's own bounds; tests use 4 to stay fast.
    BCRYPT_ROUNDS: z.coerce.number().int().min(4).max(31).default(12),
    /** Failed logins per email within LOGIN_FAILURE_WINDOW_SECONDS before the email must wait (429). */
    LOGIN_MAX_FAILURES: z.coerce.number().int().min(1).default(10),
    LOGIN_FAILURE_WINDOW_SECONDS: env.seconds(900),
    /**
     * bcrypt hashes and compares running at once, on libuv's thread pool (4 threads by
     * default). At least 2: one client holds at most all slots but one, so with two a
     * login from another client never waits behind a flood's hash (login-fairness bench:
     * 1.04x its time alone with 2, 1.90x with 1, on 2 cores).
     */
    PASSWORD_HASH_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(Math.min(4, Math.max(2, availableParallelism()))),
    /** Password checks one client address may have waiting; the next one is answered 429. */
    PASSWORD_HASH_QUEUE_PER_CLIENT: z.coerce.number().int().min(0).max(1000).default(16),
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
    refreshReuseGraceSeconds: v.REFRESH_TOKEN_REUSE_GRACE_SECONDS,
    bcryptRounds: v.BCRYPT_ROUNDS,
    loginThrottle: { maxFailures: v.LOGIN_MAX_FAILURES, windowSeconds: v.LOGIN_FAILURE_WINDOW_SECONDS },
    passwordHashing: { concurrency: v.PASSWORD_HASH_CONCURRENCY, maxQueuedPerClient: v.PASSWORD_HASH_QUEUE_PER_CLIENT },
    logLevel: v.LOG_LEVEL,
  }));

export type AuthConfig = z.infer<typeof authConfigSchema>;
