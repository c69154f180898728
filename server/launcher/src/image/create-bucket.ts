import { z } from 'zod';
import { env } from '../../../lib/src/config.ts';
import { BAD_ENVIRONMENT, parseCommandEnv } from './command-env.ts';

/** The names upload and files read their S3 settings from, so one `.env` block serves all three. */
export const createBucketEnvSchema = z.object({
  S3_ENDPOINT: env.url(),
  S3_BUCKET: z.string().min(1),
  S3_REGION: z.string().min(1).default('us-east-1'),
  S3_ACCESS_KEY_ID: z.string().min(1),
  S3_SECRET_ACCESS_KEY: z.string().min(1),
  S3_FORCE_PATH_STYLE: env.boolean(true),
  /** Origins whose browsers may PUT parts to and GET files from the bucket, comma-separated; `*` by default. */
  CORS_ALLOWED_ORIGINS: z
    .string()
    .default('*')
    .transform((v) => v.split(',').map((origin) => origin.trim()).filter(Boolean))
    .pipe(z.array(z.string()).min(1, 'name at least one origin, or *')),
  /** How long to wait for the S3 endpoint to answer at all (a store that is still starting). */
  CREATE_BUCKET_TIMEOUT_SECONDS: env.seconds(60),
});
export type CreateBucketConfig = z.infer<typeof createBucketEnvSchema>;

/**
 * The bucket rule browsers need for direct multipart uploads and downloads: PUT of parts
 * to presigned URLs, whose ETag the uploader must read back (ARCHITECTURE: "CORS
 * ExposeHeaders: ETag on the bucket"), and GET/HEAD of presigned downloads.
 */
export function corsRules(origins: string[]) {
  return [{ AllowedOrigins: origins, AllowedMethods: ['GET', 'PUT', 'HEAD'], AllowedHeaders: ['*'], ExposeHeaders: ['ETag'], MaxAgeSeconds: 3600 }];
}

/** Answers that say the store is not there (yet), as opposed to a refusal that waiting will not change. */
const NOT_YET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EPIPE', 'TimeoutError', 'RequestTimeout']);

export function isNotYetAnswering(err: unknown): boolean {
  const e = err as { name?: string; code?: string; $metadata?: { httpStatusCode?: number }; cause?: { code?: string } };
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && status >= 500) return true;
  return [e.code, e.name, e.cause?.code].some((code) => code !== undefined && NOT_YET_CODES.has(code));
}

/** A refusal in words an operator can act on. */
function describe(err: unknown, config: CreateBucketConfig): string {
  const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode ? ` (HTTP ${e.$metadata.httpStatusCode})` : '';
  const hint = ['SignatureDoesNotMatch', 'InvalidAccessKeyId', 'AccessDenied', 'InvalidClientTokenId'].includes(e.name ?? '')
    ? `: check S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY against the store's credentials`
    : '';
  return `${e.name ?? 'Error'}${status}: ${e.message ?? String(err)}${hint} (endpoint ${config.S3_ENDPOINT}, bucket ${config.S3_BUCKET})`;
}

/**
 * Makes the bucket if it is missing and sets its CORS rule; waits for the S3 endpoint
 * until CREATE_BUCKET_TIMEOUT_SECONDS, since in compose the store may still be starting.
 * Any other refusal (wrong keys, a bucket someone else owns) ends it at once.
 */
export async function createBucket(config: CreateBucketConfig, log: (line: string) => void = () => undefined): Promise<{ created: boolean }> {
  const { CreateBucketCommand, PutBucketCorsCommand, S3Client } = await import('@aws-sdk/client-s3');
  const client = new S3Client({
    endpoint: config.S3_ENDPOINT,
    region: config.S3_REGION,
    forcePathStyle: config.S3_FORCE_PATH_STYLE,
    credentials: { accessKeyId: config.S3_ACCESS_KEY_ID, secretAccessKey: config.S3_SECRET_ACCESS_KEY },
    // This command's own loop waits for the endpoint; the SDK's retries would only hide how long.
    maxAttempts: 1,
  });
  const deadline = Date.now() + config.CREATE_BUCKET_TIMEOUT_SECONDS * 1000;
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        const created = await client
          .send(new CreateBucketCommand({ Bucket: config.S3_BUCKET }))
          .then(() => true)
          .catch((err: Error) => {
            if (err.name === 'BucketAlreadyOwnedByYou') return false;
            throw err;
          });
        await client.send(new PutBucketCorsCommand({ Bucket: config.S3_BUCKET, CORSConfiguration: { CORSRules: corsRules(config.CORS_ALLOWED_ORIGINS) } }));
        return { created };
      } catch (err) {
        if (!isNotYetAnswering(err)) throw new Error(describe(err, config), { cause: err });
        if (Date.now() + 1000 > deadline) throw new Error(`S3 did not answer within ${config.CREATE_BUCKET_TIMEOUT_SECONDS} s: ${describe(err, config)}`, { cause: err });
        log(`create-bucket: ${config.S3_ENDPOINT} not answering yet (attempt ${attempt}: ${describe(err, config)}); trying again`);
        await new Promise((resolve) => setTimeout(resolve, Math.min(1000 * attempt, 5000, Math.max(deadline - Date.now() - 500, 0))));
      }
    }
  } finally {
    client.destroy();
  }
}

export async function runCreateBucket(env: NodeJS.ProcessEnv): Promise<number> {
  const config = parseCommandEnv('create-bucket', createBucketEnvSchema, env);
  if (!config) return BAD_ENVIRONMENT;
  try {
    const { created } = await createBucket(config, (line) => process.stderr.write(`${line}\n`));
    process.stdout.write(`${JSON.stringify({ command: 'create-bucket', bucket: config.S3_BUCKET, created, corsOrigins: config.CORS_ALLOWED_ORIGINS })}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`create-bucket: ${(err as Error).message}\n`);
    return 1;
  }
}
