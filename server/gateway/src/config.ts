import { z } from 'zod';
import { env } from '@govault/lib';

const urlList = z
  .string()
  .default('')
  .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
  .pipe(z.array(z.url()));

export const gatewayConfigSchema = z
  .object({
    GATEWAY_PORT: env.port(8080),
    HOST: env.host(),
    AUTH_URL: env.url().default('http://127.0.0.1:8081'),
    UPLOAD_URL: env.url().default('http://127.0.0.1:8082'),
    FILES_URL: env.url().default('http://127.0.0.1:8083'),
    INTERNAL_KEY_DIR: z.string().min(1),
    CORS_ORIGINS: urlList,
    /** How long an idempotent request may wait for an upstream that is restarting. */
    UPSTREAM_RETRY_SECONDS: env.seconds(10),
    LOG_LEVEL: env.logLevel(),
  })
  .transform((v) => ({
    port: v.GATEWAY_PORT,
    host: v.HOST,
    upstreams: { auth: v.AUTH_URL, upload: v.UPLOAD_URL, files: v.FILES_URL },
    internalKeyDir: v.INTERNAL_KEY_DIR,
    corsOrigins: v.CORS_ORIGINS,
    upstreamRetryMs: v.UPSTREAM_RETRY_SECONDS * 1000,
    logLevel: v.LOG_LEVEL,
  }));

export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;
export type UpstreamName = keyof GatewayConfig['upstreams'];
