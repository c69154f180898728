import { fileURLToPath } from 'node:url';
import {
  createMetrics,
  createS3Client,
  createServiceApp,
  InternalTokenVerifier,
  migrate,
  openOrm,
  pingDatabase,
  type DatabaseSettings,
  type Logger,
} from '@govault/lib';
import type Koa from 'koa';
import type { FilesConfig } from './config.ts';
import { FileEntity } from './file/file.entity.ts';
import { MikroOrmFileRepository } from './file/file.repository.ts';
import { fileRoutes } from './file/file.routes.ts';
import { FileService } from './file/file.service.ts';
import { internalRoutes } from './file/internal.routes.ts';
import { DiskObjectStorage } from './storage/disk-object-storage.ts';
import type { ObjectStorage } from './storage/object-storage.ts';
import { S3ObjectStorage } from './storage/s3-object-storage.ts';

const migrationsDir = fileURLToPath(new URL('../../../migrations/files', import.meta.url));

/** The composition root: the only place that constructs services, repositories and stores. */
export async function buildFilesApp(config: FilesConfig, logger: Logger): Promise<{ app: Koa; close(): Promise<void> }> {
  const database: DatabaseSettings = { url: config.databaseUrl, schema: 'files', migrationsDir };
  await migrate(database, logger);
  const orm = await openOrm(database, [FileEntity]);
  const storage = createStorage(config);

  const files = new FileService(new MikroOrmFileRepository(orm), storage.store);
  const verifier = InternalTokenVerifier.fromKeyDir(config.keyDir, 'files');

  const app = createServiceApp({
    logger,
    metrics: createMetrics('files'),
    readiness: { database: () => pingDatabase(orm), storage: () => storage.store.check() },
  });
  app.use(fileRoutes(files, verifier).routes());
  app.use(internalRoutes(files, verifier).routes());

  return {
    app,
    close: async () => {
      storage.close();
      await orm.close();
    },
  };
}

function createStorage(config: FilesConfig): { store: ObjectStorage; close(): void } {
  if (!config.s3) return { store: new DiskObjectStorage(config.storageDir), close: () => undefined };
  const client = createS3Client(config.s3);
  const publicClient = createS3Client(config.s3, { public: true });
  return {
    store: new S3ObjectStorage(client, publicClient, config.s3.bucket, config.downloadUrlTtlSeconds),
    close: () => {
      client.destroy();
      publicClient.destroy();
    },
  };
}
