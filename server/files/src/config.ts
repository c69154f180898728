import { join } from 'node:path';
import { env, s3EnvSchema, s3Settings } from '@govault/lib';
import { z } from 'zod';

/** SigV4 presigned URLs live at most seven days. */
const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;

export const filesConfigSchema = z
  .intersection(
    z.object({
      FILES_PORT: env.port(8083),
      HOST: env.host(),
      FILES_DATABASE_URL: env.url(),
      INTERNAL_KEY_DIR: z.string().min(1),
      DATA_DIR: z.string().min(1).default('.data'),
      STORAGE_DIR: env.optionalString(),
      // A presigned URL cannot be revoked: it works until it expires, whatever happens to
      // the file or the caller's access after it was issued. So it lives just long enough
      // for a client to follow the redirect.
      DOWNLOAD_URL_TTL_SECONDS: env.seconds(60).pipe(z.number().max(MAX_PRESIGN_SECONDS)),
      AUTH_URL: env.url().default('http://127.0.0.1:8081'),
      TRASH_RETENTION_SECONDS: env.seconds(30 * 24 * 3600),
      HOUSEKEEPING_INTERVAL_SECONDS: z.coerce.number().int().min(0).default(60),
      LOG_LEVEL: env.logLevel(),
    }),
    s3EnvSchema,
  )
  .transform((v) => ({
    port: v.FILES_PORT,
    host: v.HOST,
    databaseUrl: v.FILES_DATABASE_URL,
    keyDir: v.INTERNAL_KEY_DIR,
    /** Used when S3 is not configured: where @tus/file-store (upload service) writes objects. */
    storageDir: v.STORAGE_DIR ?? join(v.DATA_DIR, 'objects'),
    s3: s3Settings(v),
    downloadUrlTtlSeconds: v.DOWNLOAD_URL_TTL_SECONDS,
    /** Share grantees are looked up here (GET /internal/users...). */
    authUrl: v.AUTH_URL,
    trashRetentionSeconds: v.TRASH_RETENTION_SECONDS,
    /** 0 turns the purge/retry loop off. */
    housekeepingIntervalSeconds: v.HOUSEKEEPING_INTERVAL_SECONDS,
    logLevel: v.LOG_LEVEL,
  }));

export type FilesConfig = z.infer<typeof filesConfigSchema>;
