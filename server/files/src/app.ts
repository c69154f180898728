import { fileURLToPath } from 'node:url';
import {
  breakerStateGauge,
  createMetrics,
  createS3Client,
  createS3Metrics,
  type ServiceMetrics,
  createServiceApp,
  InternalTokenIssuer,
  InternalTokenVerifier,
  migrate,
  openOrm,
  pingDatabase,
  ServiceClient,
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
import { publicRoutes } from './public/public.routes.ts';
import { InvitationClaims } from './share/invitation-claims.ts';
import { MikroOrmInvitationRepository } from './share/invitation.repository.ts';
import { MikroOrmShareRepository } from './share/share.repository.ts';
import { shareRoutes } from './share/share.routes.ts';
import { ShareService } from './share/share.service.ts';
import { MikroOrmShortcutRepository } from './shortcut/shortcut.repository.ts';
import { shortcutRoutes } from './shortcut/shortcut.routes.ts';
import { ShortcutService } from './shortcut/shortcut.service.ts';
import { DiskObjectStorage } from './storage/disk-object-storage.ts';
import type { ObjectStorage } from './storage/object-storage.ts';
import { S3ObjectStorage } from './storage/s3-object-storage.ts';
import { Housekeeping } from './trash/housekeeping.ts';
import { MikroOrmObjectDeletionRepository } from './trash/object-deletion.repository.ts';
import { ObjectReaper } from './trash/object-reaper.ts';
import { AuthUserDirectory } from './users/user-directory.ts';

const migrationsDir = fileURLToPath(new URL('../../../migrations/files', import.meta.url));

export interface FilesApp {
  app: Koa;
  /** Purge of the trash and retries of object deletions; runs on its own every HOUSEKEEPING_INTERVAL_SECONDS. */
  housekeeping: Housekeeping;
  close(): Promise<void>;
}

/** The composition root: the only place that constructs services, repositories and stores. */
export async function buildFilesApp(config: FilesConfig, logger: Logger): Promise<FilesApp> {
  const database: DatabaseSettings = { url: config.databaseUrl, schema: 'files', migrationsDir };
  await migrate(database, logger);
  const orm = await openOrm(database, [FileEntity]);
  const metrics = createMetrics('files');
  const storage = createStorage(config, metrics.registry);

  const breakerOpen = breakerStateGauge(metrics.registry);
  const auth = new ServiceClient('auth', config.authUrl, InternalTokenIssuer.fromKeyDir(config.keyDir, 'files'), {
    onBreakerChange: (open) => breakerOpen.set({ upstream: 'auth' }, open ? 1 : 0),
  });
  const users = new AuthUserDirectory(auth);
  const fileRepository = new MikroOrmFileRepository(orm);
  const invitations = new MikroOrmInvitationRepository(orm);
  const claims = new InvitationClaims(invitations, users, logger);
  const reaper = new ObjectReaper(new MikroOrmObjectDeletionRepository(orm), storage.store, logger);
  const files = new FileService(fileRepository, storage.store, reaper, claims);
  const shares = new ShareService(files, new MikroOrmShareRepository(orm), invitations, claims, users);
  const shortcuts = new ShortcutService(files, new MikroOrmShortcutRepository(orm));
  const housekeeping = new Housekeeping(
    fileRepository,
    reaper,
    { trashRetentionMs: config.trashRetentionSeconds * 1000, intervalMs: config.housekeepingIntervalSeconds * 1000 },
    logger,
  );
  const verifier = InternalTokenVerifier.fromKeyDir(config.keyDir, 'files');

  const app = createServiceApp({
    logger,
    metrics,
    readiness: { database: () => pingDatabase(orm), storage: () => storage.store.check() },
  });
  for (const router of [
    fileRoutes(files, verifier),
    shareRoutes(shares, verifier),
    shortcutRoutes(shortcuts, verifier),
    publicRoutes(files, verifier),
    internalRoutes(files, verifier),
  ]) {
    app.use(router.routes());
  }
  housekeeping.start();

  return {
    app,
    housekeeping,
    close: async () => {
      await housekeeping.stop();
      auth.destroy();
      storage.close();
      await orm.close();
    },
  };
}

function createStorage(config: FilesConfig, registry: ServiceMetrics['registry']): { store: ObjectStorage; close(): void } {
  if (!config.s3) return { store: new DiskObjectStorage(config.storageDir), close: () => undefined };
  // Requests are timed; the public client only presigns, and presigning is no request.
  const client = createS3Client(config.s3, { metrics: createS3Metrics(registry) });
  const publicClient = createS3Client(config.s3, { public: true });
  return {
    store: new S3ObjectStorage(client, publicClient, config.s3.bucket, config.downloadUrlTtlSeconds),
    close: () => {
      client.destroy();
      publicClient.destroy();
    },
  };
}
