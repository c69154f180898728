import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { FileStore } from '@tus/file-store';
import { S3Store } from '@tus/s3-store';
import { EVENTS, Server, type DataStore, type ServerOptions } from '@tus/server';
import type { Logger, S3Settings } from '@govault/lib';
import type { UploadService } from '../session/upload.service.ts';
import type { UploadMetrics } from './tus-metrics.ts';

export const TUS_PATH = '/api/uploads/tus';
/**
 * The user each request was authenticated as, set by the Koa layer from the verified
 * internal token. Kept beside the request rather than in a header, so that nothing a
 * client sends can stand in for it.
 */
const verifiedUsers = new WeakMap<object, string>();

export function vouchForUser(req: IncomingMessage, userId: string | undefined): void {
  if (userId) verifiedUsers.set(req, userId);
}

type TusRequest = Parameters<NonNullable<ServerOptions['onIncomingRequest']>>[0];

function verifiedUser(req: TusRequest): string | undefined {
  const node = req.runtime?.node?.req;
  return node ? verifiedUsers.get(node) : undefined;
}
export const FILE_ID_HEADER = 'GoVault-File-Id';

const MiB = 1024 ** 2;

export function createDataStore(
  options: { s3?: S3Settings; storageDir: string; expirySeconds: number },
): DataStore {
  const expirationPeriodInMilliseconds = options.expirySeconds * 1000;
  if (!options.s3) return new FileStore({ directory: options.storageDir, expirationPeriodInMilliseconds });
  const s3 = options.s3;
  return new S3Store({
    partSize: 8 * MiB,
    expirationPeriodInMilliseconds,
    s3ClientConfig: {
      bucket: s3.bucket,
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: s3.forcePathStyle,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    },
  });
}

type TusError = { status_code: number; body: string };
const uploadNotFound: TusError = { status_code: 404, body: 'Upload not found\n' };
const unavailable: TusError = { status_code: 503, body: 'Upload service is temporarily unavailable\n' };

/**
 * The tus endpoint. Its hooks are the seam to the rest of GoVault: a new upload becomes a
 * session owned by the caller, only the owner may touch it, and the request that
 * completes it registers the file and answers with its id.
 */
export function createTusServer(deps: {
  datastore: DataStore;
  uploads: UploadService;
  maxSize: number;
  logger: Logger;
  metrics: UploadMetrics;
}): Server {
  const { uploads, logger, metrics } = deps;
  const requestId = (req: { headers: Headers }) => req.headers.get('x-request-id') ?? undefined;

  const server = new Server({
    path: TUS_PATH,
    datastore: deps.datastore,
    maxSize: deps.maxSize,
    respectForwardedHeaders: true,
    // The gateway answers CORS for the whole API; tus must not add a second set.
    allowedOrigins: () => false,
    namingFunction: () => randomUUID().replaceAll('-', ''),
    async onIncomingRequest(req, uploadId) {
      if (req.method === 'POST') return;
      const session = await uploads.ownedBy(uploadId, verifiedUser(req)).catch((err) => {
        logger.error({ err, uploadId }, 'session lookup failed');
        throw unavailable;
      });
      if (!session) throw uploadNotFound;
    },
    async onUploadCreate(req, upload) {
      const owner = verifiedUser(req);
      if (!owner) throw { status_code: 401, body: 'Authentication required\n' } satisfies TusError;
      await uploads.begin(upload, owner).catch((err) => {
        logger.error({ err, uploadId: upload.id }, 'could not record the upload session');
        throw unavailable;
      });
      metrics.created.inc();
      return {};
    },
    async onUploadFinish(req, upload) {
      const fileId = await uploads.finish(upload.id, upload.offset, requestId(req));
      metrics.completed.inc();
      return fileId ? { headers: { [FILE_ID_HEADER]: fileId } } : {};
    },
    onResponseError(_req, err) {
      if ('status_code' in err) return undefined;
      logger.error({ err }, 'tus request failed');
      return { status_code: 500, body: 'Internal error\n' };
    },
  });

  server.on(EVENTS.POST_RECEIVE, (_req, upload) => {
    uploads.recordProgress(upload.id, upload.offset).catch((err) => logger.warn({ err }, 'progress not recorded'));
  });
  server.on(EVENTS.POST_TERMINATE, (_req, _res, id) => {
    metrics.terminated.inc();
    uploads.terminate(id).catch((err) => logger.warn({ err, uploadId: id }, 'termination not recorded'));
  });
  return server;
}
