import { resolve } from 'node:path';
import { z } from 'zod';
import { env } from '@govault/lib';

export const launcherConfigSchema = z
  .object({
    HOST: env.host(),
    GATEWAY_PORT: env.port(8080),
    AUTH_PORT: env.port(8081),
    UPLOAD_PORT: env.port(8082),
    FILES_PORT: env.port(8083),
    /** The gateway's operator port (/metrics); 0: a free port. */
    GATEWAY_METRICS_PORT: env.port(9080),
    /** Where clients reach GoVault; default http://localhost:<GATEWAY_PORT> (the address printed at start). */
    PUBLIC_URL: env.optionalUrl(),
    DATA_DIR: z.string().min(1).default('.data'),
    AUTH_DATABASE_URL: env.optionalUrl(),
    UPLOAD_DATABASE_URL: env.optionalUrl(),
    FILES_DATABASE_URL: env.optionalUrl(),
    EMBEDDED_DB_PORT: env.port(0),
    /** A web app built elsewhere for the gateway to serve as it is; unset: web/dist, built here when needed. */
    WEB_APP_DIR: env.optionalString(),
  })
  .transform((v) => ({
    host: v.HOST,
    ports: { gateway: v.GATEWAY_PORT, auth: v.AUTH_PORT, upload: v.UPLOAD_PORT, files: v.FILES_PORT, gatewayMetrics: v.GATEWAY_METRICS_PORT },
    publicUrl: v.PUBLIC_URL,
    dataDir: resolve(v.DATA_DIR),
    databaseUrls: { auth: v.AUTH_DATABASE_URL, upload: v.UPLOAD_DATABASE_URL, files: v.FILES_DATABASE_URL },
    embeddedDbPort: v.EMBEDDED_DB_PORT,
    // Resolved here: the gateway runs in the repository's folder, not in the caller's.
    webAppDir: v.WEB_APP_DIR && resolve(v.WEB_APP_DIR),
  }));

export type LauncherConfig = z.infer<typeof launcherConfigSchema>;
