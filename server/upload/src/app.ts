import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type Koa from 'koa';
import {
  InternalTokenIssuer,
  InternalTokenVerifier,
  ServiceClient,
  breakerStateGauge,
  createMetrics,
  createServiceApp,
  migrate,
  openOrm,
  pingDatabase,
  requireInternalToken,
  type Logger,
} from '@govault/lib';
import type { UploadConfig } from './config.ts';
import { FilesServiceRegistry } from './registration/file-registry.ts';
import { UploadSessionSchema } from './session/upload-session.entity.ts';
import { MikroUploadSessionRepository } from './session/upload-session.repository.ts';
import { UploadService } from './session/upload.service.ts';
import { createUploadMetrics } from './tus/tus-metrics.ts';
import { createDataStore, createTusServer } from './tus/tus-server.ts';
import { tusRoutes } from './tus/tus.routes.ts';

const MIGRATIONS_DIR = fileURLToPath(new URL('../../../migrations/upload', import.meta.url));

export interface UploadApp {
  app: Koa;
  close(): Promise<void>;
}

/** The composition root of the upload service. */
export async function buildUploadApp(config: UploadConfig, logger: Logger): Promise<UploadApp> {
  const database = { url: config.databaseUrl, schema: 'upload', migrationsDir: MIGRATIONS_DIR };
  await migrate(database, logger);
  const orm = await openOrm(database, [UploadSessionSchema]);

  const metrics = createMetrics('upload');
  const breakerOpen = breakerStateGauge(metrics.registry);
  const files = new ServiceClient('files', config.filesUrl, InternalTokenIssuer.fromKeyDir(config.internalKeyDir, 'upload'), {
    onBreakerChange: (open) => breakerOpen.set({ upstream: 'files' }, open ? 1 : 0),
  });
  const uploads = new UploadService(new MikroUploadSessionRepository(orm), new FilesServiceRegistry(files), logger);

  if (!config.s3) mkdirSync(config.storageDir, { recursive: true });
  const uploadMetrics = createUploadMetrics(metrics.registry);
  const tus = createTusServer({
    datastore: createDataStore({ s3: config.s3, storageDir: config.storageDir, expirySeconds: config.uploadExpirySeconds }),
    uploads,
    maxSize: config.maxUploadSize,
    logger,
    metrics: uploadMetrics,
  });

  const app = createServiceApp({ logger, metrics, readiness: { database: () => pingDatabase(orm) } });
  app.use(requireInternalToken(InternalTokenVerifier.fromKeyDir(config.internalKeyDir, 'upload'), ['gateway']));
  app.use(tusRoutes(tus, uploads, uploadMetrics));

  return {
    app,
    close: async () => {
      files.destroy();
      await orm.close();
    },
  };
}
