import { z } from 'zod';
import { env, s3EnvSchema, s3Settings } from '@govault/lib';

const GiB = 1024 ** 3;

export const uploadConfigSchema = z
  .object({
    UPLOAD_PORT: env.port(8082),
    HOST: env.host(),
    UPLOAD_DATABASE_URL: env.url(),
    INTERNAL_KEY_DIR: z.string().min(1),
    DATA_DIR: z.string().min(1).default('.data'),
    STORAGE_DIR: env.optionalString(),
    FILES_URL: env.url().default('http://127.0.0.1:8083'),
    MAX_UPLOAD_SIZE: z.coerce.number().int().positive().default(5 * GiB),
    UPLOAD_EXPIRY_SECONDS: env.seconds(24 * 3600),
    MULTIPART_URL_TTL_SECONDS: env.seconds(900).pipe(z.number().max(604800)),
    UPLOAD_EXPIRY_SWEEP_SECONDS: env.seconds(300),
    MAX_METADATA_BYTES: z.coerce.number().int().positive().max(16 * 1024).default(4096),
    REGISTRATION_MAX_BACKOFF_SECONDS: env.seconds(60),
    SPOOL_DIR: env.optionalString(),
    PART_MEMORY_MIB: z.coerce.number().int().min(0).max(64 * 1024).default(64),
    LOG_LEVEL: env.logLevel(),
  })
  .and(s3EnvSchema)
  .transform((v) => ({
    port: v.UPLOAD_PORT,
    host: v.HOST,
    databaseUrl: v.UPLOAD_DATABASE_URL,
    internalKeyDir: v.INTERNAL_KEY_DIR,
    storageDir: v.STORAGE_DIR ?? `${v.DATA_DIR}/objects`,
    filesUrl: v.FILES_URL,
    maxUploadSize: v.MAX_UPLOAD_SIZE,
    uploadExpirySeconds: v.UPLOAD_EXPIRY_SECONDS,
    multipartUrlTtlSeconds: v.MULTIPART_URL_TTL_SECONDS,
    multipartKeyFile: `${v.DATA_DIR}/multipart-signing.key`,
    expirySweepSeconds: v.UPLOAD_EXPIRY_SWEEP_SECONDS,
    maxMetadataBytes: v.MAX_METADATA_BYTES,
    registrationMaxBackoffSeconds: v.REGISTRATION_MAX_BACKOFF_SECONDS,
    spoolDir: v.SPOOL_DIR ?? `${v.DATA_DIR}/spool`,
    partMemoryBytes: v.PART_MEMORY_MIB * 1024 * 1024,
    logLevel: v.LOG_LEVEL,
    s3: s3Settings(v),
  }));

export type UploadConfig = z.infer<typeof uploadConfigSchema>;
