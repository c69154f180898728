import { randomUUID } from 'node:crypto';
import { ERRORS, EVENTS, Server, type DataStore, type Locker, type ServerOptions } from '@tus/server';
import type { Logger } from '@govault/lib';
import { metadataProblem } from '../session/metadata.ts';
import type { ConcatCreation, UploadSession } from '../session/upload-session.entity.ts';
import type { Registration, UploadService } from '../session/upload.service.ts';
import { readNodeBodies } from './node-body.ts';
import { uploadLocked } from './pg-locker.ts';
import type { UploadMetrics } from './tus-metrics.ts';

export const TUS_PATH = '/api/uploads/tus';
export const FILE_ID_HEADER = 'GoVault-File-Id';
/** On a completed upload the files service refused: why it did not become a file. */
export const REGISTRATION_ERROR_HEADER = 'GoVault-Registration-Error';
/** A PATCH after this long without progress counts as a resume (a HEAD always does). */
export const RESUME_GAP_SECONDS = 10;

/**
 * The user each request was authenticated as, set by the Koa layer from the verified
 * internal token. Kept beside the request rather than in a header, so that nothing a
 * client sends can stand in for it.
 */
const verifiedUsers = new WeakMap<object, string>();

export function vouchForUser(req: object, userId: string | undefined): void {
  if (userId) verifiedUsers.set(req, userId);
}

/**
 * The caller's session as the Koa layer read it for this request (nothing: not theirs, or
 * not there), so the hooks need not read it again. Only what never changes is taken from
 * it (owner, concatenation kind); a lookup that failed is not passed on, and the hook
 * asks the database itself.
 */
export interface SessionSeen {
  session: UploadSession | undefined;
}

const sessionsSeen = new WeakMap<object, SessionSeen>();

export function passSessionSeen(req: object, seen: SessionSeen | undefined): void {
  if (seen) sessionsSeen.set(req, seen);
}

type TusRequest = Parameters<NonNullable<ServerOptions['onIncomingRequest']>>[0];

function verifiedUser(req: TusRequest): string | undefined {
  return verifiedUsers.get(req);
}

const concatCreations = new WeakMap<object, ConcatCreation>();

/**
 * Set by the Koa layer (concatenation.ts), which reads `Upload-Concat` itself and hands tus
 * a plain creation request: @tus/server refuses the header, since its stores lack the extension.
 */
export function markConcatCreation(req: object, creation: ConcatCreation): void {
  concatCreations.set(req, creation);
}

/**
 * `GoVault-File-Id` once the upload is a file; `GoVault-Registration-Error` (`<code>:
 * <message>`, printable ASCII) when the files service refused it; neither while pending.
 */
export function registrationHeaders(registration: Registration): Record<string, string> {
  // Lower-case names: the Koa layer writes these into raw answers beside tus's own.
  if (registration.state === 'registered') return { [FILE_ID_HEADER.toLowerCase()]: registration.fileId };
  if (registration.state === 'refused') {
    const { code, message } = registration.refusal;
    return { [REGISTRATION_ERROR_HEADER.toLowerCase()]: `${code}: ${message}`.replace(/[^\x20-\x7e]/g, '?').slice(0, 500) };
  }
  return {};
}

type TusError = { status_code: number; body: string };
const uploadNotFound: TusError = { status_code: 404, body: 'Upload not found\n' };
const uploadGone: TusError = { status_code: 410, body: 'Upload was terminated or has expired\n' };
const notOffered = (what: string): TusError => ({ status_code: 400, body: `${what} is not offered by this server: see Tus-Extension\n` });
const unavailable: TusError = { status_code: 503, body: 'Upload service is temporarily unavailable\n' };

/**
 * The tus endpoint. Its hooks are the seam to the rest of GoVault: a new upload becomes a
 * session owned by the caller, only the owner may touch it, and the request that
 * completes it registers the file (through the outbox) and answers with its id.
 */
export function createTusServer(deps: {
  datastore: DataStore;
  locker: Locker;
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
    locker: deps.locker,
    maxSize: deps.maxSize,
    respectForwardedHeaders: true,
    // The gateway answers CORS for the whole API; tus must not add a second set.
    allowedOrigins: () => false,
    namingFunction: () => randomUUID().replaceAll('-', ''),
    async onIncomingRequest(req, uploadId) {
      if (req.method === 'POST') return;
      const seen = sessionsSeen.get(req);
      const session = seen
        ? seen.session
        : await uploads.ownedBy(uploadId, verifiedUser(req)).catch((err) => {
            logger.error({ err, uploadId }, 'session lookup failed');
            throw unavailable;
          });
      if (!session) throw uploadNotFound;
      // "the Server SHOULD respond with 404 Not Found or 410 Gone" for terminated and expired uploads.
      if (session.state === 'terminated' || session.state === 'expired') throw uploadGone;
      if ((req.method === 'HEAD' || req.method === 'PATCH') && session.state !== 'completed' && session.offset > 0) {
        const resumed = await uploads.noteResume(uploadId, req.method === 'HEAD' ? 0 : RESUME_GAP_SECONDS).catch(() => false);
        if (resumed) metrics.tus.resumed.inc();
      }
    },
    async onUploadCreate(req, upload) {
      const owner = verifiedUser(req);
      if (!owner) throw { status_code: 401, body: 'Authentication required\n' } satisfies TusError;
      const problem = metadataProblem(upload.metadata ?? {});
      if (problem) throw { status_code: 400, body: `Upload-Metadata: ${problem}\n` } satisfies TusError;
      const concat = concatCreations.get(req);
      await uploads.begin(upload, owner, concat).catch((err) => {
        logger.error({ err, uploadId: upload.id }, 'could not record the upload session');
        throw unavailable;
      });
      // The upload metrics count transfers: each partial of a parallel upload is one, the final that joins them none.
      if (concat?.kind !== 'final') metrics.tus.created.inc();
      return {};
    },
    async onUploadFinish(req, upload) {
      const { session, registration } = await uploads.finish(upload.id, upload.offset, requestId(req), sessionsSeen.get(req)?.session).catch((err) => {
        // The bytes are safe in storage; the next HEAD (or the client's retry) finishes the bookkeeping.
        logger.error({ err, uploadId: upload.id }, 'could not record the completed upload');
        throw unavailable;
      });
      metrics.tus.completed.inc();
      if (session) metrics.tus.duration.observe((Date.now() - session.createdAt.getTime()) / 1000);
      return { headers: registrationHeaders(registration) };
    },
    onResponseError(_req, err) {
      if (err === ERRORS.ERR_LOCK_TIMEOUT) return uploadLocked;
      // @tus/server answers 501 for an extension it lacks; it is the request that asks for what OPTIONS does not offer.
      if (err === ERRORS.UNSUPPORTED_CONCATENATION_EXTENSION) return notOffered('Upload-Concat (concatenation)');
      if ('status_code' in err) return undefined;
      logger.error({ err }, 'tus request failed');
      return { status_code: 500, body: 'Internal error\n' };
    },
  });

  // Before any listener is added: the server hands its listeners to these handlers.
  readNodeBodies(server);
  server.on(EVENTS.POST_RECEIVE, (_req, upload) => {
    uploads.recordProgress(upload.id, upload.offset).catch((err) => logger.warn({ err }, 'progress not recorded'));
  });
  // The session is marked terminated by the Koa layer, before the 204 goes out (tus.routes.ts).
  server.on(EVENTS.POST_TERMINATE, () => metrics.tus.terminated.inc());
  return server;
}
