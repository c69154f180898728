import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type Koa from 'koa';
import { EVENTS } from '@tus/server';
import {
  InternalTokenIssuer,
  InternalTokenVerifier,
  ServiceClient,
  breakerStateGauge,
  createMetrics,
  createS3Client,
  createS3Metrics,
  createServiceApp,
  migrate,
  openOrm,
  pingDatabase,
  requireInternalToken,
  type Logger,
} from '@govault/lib';
import type { UploadConfig } from './config.ts';
import { Janitor } from './janitor/janitor.ts';
import { tusExpirySweep } from './janitor/expiry-sweep.ts';
import { FilesServiceRegistry } from './registration/file-registry.ts';
import { SqlRegistrationOutbox } from './registration/outbox.repository.ts';
import { outboxSweep } from './registration/outbox-sweep.ts';
import { SqlUploadListRepository } from './session/upload-list.repository.ts';
import { SqlUploadPartRepository } from './session/upload-part.repository.ts';
import { UploadSessionSchema } from './session/upload-session.entity.ts';
import { MikroUploadSessionRepository } from './session/upload-session.repository.ts';
import { UploadService } from './session/upload.service.ts';
import { uploadListRoutes } from './session/uploads.routes.ts';
import { createDataStore, partSizeFor } from './storage/data-store.ts';
import { PartBufferPool } from './storage/held-part.ts';
import { LockedViews } from './storage/locked-view.ts';
import { PgKvStore } from './storage/pg-kv-store.ts';
import { Sql } from './storage/sql.ts';
import { tellingHolder } from './tus/lock-scope.ts';
import { createTusLocker } from './tus/pg-locker.ts';
import { createPartSpoolMetrics, createUploadMetrics } from './tus/tus-metrics.ts';
import { RESUME_GAP_SECONDS, createTusServer } from './tus/tus-server.ts';
import { tusRoutes } from './tus/tus.routes.ts';
import { DiskMultipartStore } from './multipart/disk-multipart-store.ts';
import { multipartAbandonSweep } from './multipart/multipart-sweep.ts';
import { MultipartPartSchema, MultipartUploadSchema } from './multipart/multipart.entity.ts';
import { MikroMultipartRepository } from './multipart/multipart.repository.ts';
import { multipartRoutes } from './multipart/multipart.routes.ts';
import { MultipartService } from './multipart/multipart.service.ts';
import { partUploadRoutes } from './multipart/part-upload.routes.ts';
import { PartUrlSigner } from './multipart/part-url-signer.ts';
import { S3MultipartStore } from './multipart/s3-multipart-store.ts';

const MIGRATIONS_DIR = fileURLToPath(new URL('../../../migrations/upload', import.meta.url));

export interface UploadApp {
  app: Koa;
  /** Background work (registration retries, expiry); issue-specific sweeps can be added before start. */
  janitor: Janitor;
  uploads: UploadService;
  /** Direct multipart uploads (Companion's S3 routes); its sweep runs in the janitor. */
  multipart: MultipartService;
  close(): Promise<void>;
}

/** The composition root of the upload service. */
export async function buildUploadApp(config: UploadConfig, logger: Logger): Promise<UploadApp> {
  const database = { url: config.databaseUrl, schema: 'upload', migrationsDir: MIGRATIONS_DIR };
  await migrate(database, logger);
  const orm = await openOrm(database, [UploadSessionSchema, MultipartUploadSchema, MultipartPartSchema]);
  const sql = new Sql(orm, database.schema);

  const metrics = createMetrics('upload');
  const breakerOpen = breakerStateGauge(metrics.registry);
  breakerOpen.set({ upstream: 'files' }, 0);
  const files = new ServiceClient('files', config.filesUrl, InternalTokenIssuer.fromKeyDir(config.internalKeyDir, 'upload'), {
    onBreakerChange: (open) => breakerOpen.set({ upstream: 'files' }, open ? 1 : 0),
  });
  const sessions = new MikroUploadSessionRepository(orm);
  const parts = new SqlUploadPartRepository(sql);
  const outbox = new SqlRegistrationOutbox(sql);
  const uploadMetrics = createUploadMetrics(metrics.registry, {
    activeUploads: async () => {
      const counts = await sessions.countInFlightByProtocol();
      return { tus: counts.tus, direct: counts.multipart };
    },
    overdueUploads: () => sessions.countOverdue(config.uploadExpirySeconds),
    outboxBacklog: () => outbox.backlog(),
    failedRegistrations: () => outbox.failedCount(),
  });
  const uploads = new UploadService(sessions, new FilesServiceRegistry(files), logger, outbox, {
    maxBackoffMs: config.registrationMaxBackoffSeconds * 1000,
    onRefused: (code) => uploadMetrics.registrationFailures.inc({ reason: code }),
  });
  const locker = await createTusLocker(config.databaseUrl, logger, {
    waited: (seconds) => {
      uploadMetrics.lockWaits.inc();
      uploadMetrics.lockWaitSeconds.observe(seconds);
    },
  });

  if (!config.s3) mkdirSync(config.storageDir, { recursive: true });
  mkdirSync(config.spoolDir, { recursive: true });
  // Every S3 request of this service, the tus store's own client included (S3 mode only).
  const s3Metrics = config.s3 ? createS3Metrics(metrics.registry) : undefined;
  // S3 parts wait in memory within a fixed budget, and on disk beyond it (disk storage holds none).
  const partMemory = new PartBufferPool(partSizeFor(config.maxUploadSize), config.s3 ? config.partMemoryBytes : 0);
  const partSpoolMetrics = config.s3 ? createPartSpoolMetrics(metrics.registry, () => partMemory.bytesInUse) : undefined;
  // What a request holding an upload's lock has learnt of it in S3 (S3 mode only).
  const lockedViews = new LockedViews();
  const datastore = createDataStore({
    s3: config.s3,
    s3Metrics,
    storageDir: config.storageDir,
    expirySeconds: config.uploadExpirySeconds,
    maxUploadSize: config.maxUploadSize,
    parts,
    cache: new PgKvStore(sql),
    spool: { memory: partMemory, dir: config.spoolDir, started: partSpoolMetrics?.started },
    views: lockedViews,
    logger,
    // A finished upload that is terminated (or found expired) becomes its file all the
    // same, even if the request that wrote its last bytes died before saying so.
    keepFinished: async (upload) => {
      const { registration } = await uploads.finish(upload.id, upload.size!).catch((err) => {
        logger.error({ err, uploadId: upload.id }, 'could not record the finished upload before forgetting it');
        throw { status_code: 503, body: 'Upload service is temporarily unavailable\n' };
      });
      return registration.state !== 'partial';
    },
  });
  // Every tus lock this process takes, the tus server's and the concatenation checks', opens the upload's view.
  const tusLocker = tellingHolder(locker.locker, lockedViews);
  const tus = createTusServer({ datastore, locker: tusLocker, uploads, maxSize: config.maxUploadSize, logger, metrics: uploadMetrics });
  tus.on(EVENTS.POST_TERMINATE, (_req, _res, id) => {
    parts.removeAll(id).catch((err) => logger.warn({ err, uploadId: id }, 'parts of a terminated upload not removed'));
  });

  // Direct multipart uploads: presigned S3 part URLs, or (embedded) HMAC-signed URLs to ourselves.
  const partSigner = new PartUrlSigner(config.multipartKeyFile, config.multipartUrlTtlSeconds);
  const s3Clients = config.s3 ? [createS3Client(config.s3, { metrics: s3Metrics! }), createS3Client(config.s3, { public: true })] as const : undefined;
  const diskParts = config.s3 ? undefined : new DiskMultipartStore(config.storageDir, partSigner);
  const multipart = new MultipartService(
    new MikroMultipartRepository(orm),
    s3Clients ? new S3MultipartStore(s3Clients[0], s3Clients[1], config.s3!.bucket, config.multipartUrlTtlSeconds) : diskParts!,
    uploads,
    { maxUploadSize: config.maxUploadSize, urlTtlSeconds: config.multipartUrlTtlSeconds, resumeGapSeconds: RESUME_GAP_SECONDS },
    logger,
    uploadMetrics.direct,
    diskParts,
  );

  const janitor = new Janitor(
    [
      multipartAbandonSweep(multipart, config.uploadExpirySeconds, config.expirySweepSeconds * 1000),
      outboxSweep(uploads, 1_000, uploadMetrics),
      tusExpirySweep({
        sessions,
        parts,
        datastore,
        expirySeconds: config.uploadExpirySeconds,
        everyMs: config.expirySweepSeconds * 1000,
        logger,
        onExpired: () => uploadMetrics.tus.expired.inc(),
      }),
    ],
    logger,
  );
  janitor.start();

  const app = createServiceApp({ logger, metrics, readiness: { database: () => pingDatabase(orm) } });
  app.use(requireInternalToken(InternalTokenVerifier.fromKeyDir(config.internalKeyDir, 'upload'), ['gateway']));
  app.use(
    tusRoutes({
      tus,
      store: datastore,
      locker: tusLocker,
      uploads,
      metrics: uploadMetrics,
      maxSize: config.maxUploadSize,
      maxMetadataBytes: config.maxMetadataBytes,
      spoolDir: config.spoolDir,
      logger,
    }),
  );
  app.use(multipartRoutes(multipart).routes());
  // On disk every part is recorded as it arrives; S3 hears of a part only when asked.
  const directProgress = config.s3 ? (uploadId: string) => multipart.storedBytes(uploadId) : undefined;
  app.use(uploadListRoutes(new SqlUploadListRepository(sql), config.uploadExpirySeconds, directProgress).routes());
  if (diskParts) app.use(partUploadRoutes(multipart, partSigner, config.maxUploadSize).routes());

  return {
    app,
    janitor,
    uploads,
    multipart,
    close: async () => {
      await janitor.stop();
      files.destroy();
      for (const client of s3Clients ?? []) client.destroy();
      await locker.close();
      await orm.close();
    },
  };
}
