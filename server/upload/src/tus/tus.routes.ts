import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Context, Next } from 'koa';
import { Metadata, type Locker, type Server } from '@tus/server';
import { notFound, type Logger } from '@govault/lib';
import type { Registration, UploadService } from '../session/upload.service.ts';
import type { ConcatCreation, UploadSession } from '../session/upload-session.entity.ts';
import { BodyTooLarge, CHECKSUM_ALGORITHMS, parseChecksumHeader, spoolAndHash, type SpooledBody } from './checksum.ts';
import type { UploadMetrics } from './tus-metrics.ts';
import { brokenBody, standInFor } from './node-body.ts';
import { TUS_PATH, markConcatCreation, passSessionSeen, registrationHeaders, vouchForUser, type SessionSeen } from './tus-server.ts';
import { concatHeaderOf, createFinalUpload, parseUploadConcat } from './concatenation.ts';
import { hasBody, locationId, text, type TusAnswer } from './tus-answer.ts';
import type { ConcatenatingStore } from '../storage/data-store.ts';

const TUS_METHODS = new Set(['OPTIONS', 'POST', 'HEAD', 'PATCH', 'DELETE']);
const TUS_VERSION = '1.0.0';
/** What this server really does; `OPTIONS` advertises exactly this. */
export const TUS_EXTENSIONS = ['creation', 'creation-with-upload', 'creation-defer-length', 'termination', 'expiration', 'checksum', 'concatenation'];
const OFFSET_OCTET_STREAM = 'application/offset+octet-stream';
const OFFSET = /^\d{1,16}$/;
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'expect', 'te', 'trailer']);

export interface TusRouteDeps {
  tus: Server;
  /** The tus server's store, which also joins partial uploads. */
  store: ConcatenatingStore;
  /** The tus server's locker: a final upload locks its partials as a PATCH would. */
  locker: Locker;
  uploads: UploadService;
  metrics: UploadMetrics;
  maxSize: number;
  maxMetadataBytes: number;
  /** Where PATCH bodies with an Upload-Checksum wait while they are verified. */
  spoolDir: string;
  logger: Logger;
}

/**
 * Hands /api/uploads/tus[/:id] to the tus server, with the caller's verified identity,
 * and adds what @tus/server lacks: the checksum extension, the 412 with Tus-Version, the
 * current offset on a 409, a metadata size limit, and the bookkeeping of each answer.
 */
export function tusRoutes(deps: TusRouteDeps) {
  return async (ctx: Context, next: Next) => {
    if (ctx.path !== TUS_PATH && !ctx.path.startsWith(`${TUS_PATH}/`)) return next();
    if (!TUS_METHODS.has(ctx.method)) throw notFound('route');
    ctx.state.routeName = ctx.path === TUS_PATH ? TUS_PATH : `${TUS_PATH}/:id`;
    const answer = await answerTus(ctx, deps);
    ctx.respond = false;
    ctx.res.writeHead(answer.status, { 'tus-resumable': TUS_VERSION, ...answer.headers });
    ctx.res.end(ctx.method === 'HEAD' ? undefined : answer.body);
  };
}

async function answerTus(ctx: Context, deps: TusRouteDeps): Promise<TusAnswer> {
  if (ctx.method === 'OPTIONS') return options(deps.maxSize);
  // "If the version specified by the Client is not supported by the Server, it MUST respond
  // with the 412 Precondition Failed status and MUST include the Tus-Version header."
  if (ctx.get('tus-resumable') !== TUS_VERSION) {
    return text(412, 'Unsupported or missing Tus-Resumable; this server speaks 1.0.0', { 'tus-version': TUS_VERSION });
  }
  if (Buffer.byteLength(ctx.get('upload-metadata')) > deps.maxMetadataBytes) {
    return text(413, `Upload-Metadata is larger than ${deps.maxMetadataBytes} bytes`);
  }
  const malformed = malformedRequest(ctx);
  if (malformed) return malformed;
  let concat: ConcatCreation | undefined;
  if (ctx.method === 'POST' && ctx.get('upload-concat') !== '') {
    const parsed = parseUploadConcat(ctx.get('upload-concat'));
    if (parsed.kind === 'malformed') return text(400, parsed.problem);
    if (parsed.kind === 'final') return finalUpload(ctx, deps, parsed.parts);
    concat = parsed;
  }
  if (ctx.method === 'PATCH' || ctx.method === 'HEAD') {
    const finished = ctx.method === 'PATCH' ? await patchOnFinishedUpload(ctx, deps) : await headOnFinishedUpload(ctx, deps);
    if (finished) return finished;
  }
  const carriesBody = ctx.method === 'PATCH' || (ctx.method === 'POST' && ctx.get('content-type') === OFFSET_OCTET_STREAM);
  let spooled: SpooledBody | undefined;
  if (carriesBody && ctx.get('upload-checksum')) {
    const checked = await verifyChecksum(ctx, deps);
    if ('status' in checked) return checked;
    spooled = checked;
  }
  const spoolStream = spooled ? createReadStream(spooled.path) : undefined;
  try {
    const request = toWebRequest(ctx, carriesBody ? (spoolStream ?? ctx.req) : undefined, concat ? { 'upload-concat': undefined } : {});
    vouchForUser(request, ctx.state.userId);
    // Not after a checksummed body was spooled: that can take minutes, and the upload may have ended meanwhile.
    if (!spooled) passSessionSeen(request, seenIn(ctx).sessionSeen);
    if (concat) markConcatCreation(request, concat);
    const from = ctx.method === 'PATCH' ? Number(ctx.get('upload-offset')) : 0;
    const response = await deps.tus.handleWeb(request);
    const answer: TusAnswer = {
      status: response.status,
      headers: Object.fromEntries(response.headers),
      body: new Uint8Array(await response.arrayBuffer()),
    };
    await afterAnswer(ctx, deps, answer, carriesBody ? from : undefined);
    return answer;
  } finally {
    spoolStream?.destroy();
    await spooled?.discard();
  }
}

/** A final upload of tus concatenation (concatenation.ts), created through tus as a plain upload of its partials' length. */
function finalUpload(ctx: Context, deps: TusRouteDeps, parts: string[]): Promise<TusAnswer> {
  return createFinalUpload(ctx, {
    uploads: deps.uploads,
    store: deps.store,
    locker: deps.locker,
    logger: deps.logger,
    async createThroughTus(length, creation) {
      const request = toWebRequest(ctx, undefined, { 'upload-concat': undefined, 'upload-length': String(length), 'content-type': undefined, 'content-length': undefined });
      vouchForUser(request, ctx.state.userId);
      markConcatCreation(request, creation);
      const response = await deps.tus.handleWeb(request);
      return { status: response.status, headers: Object.fromEntries(response.headers), body: new Uint8Array(await response.arrayBuffer()) };
    },
  }, parts);
}

/**
 * What the request's own headers rule out, before any upload is looked at. The spec leaves
 * these statuses open ("The Server SHOULD..."); ARCHITECTURE.md fixes them as tusd answers:
 * a body that is not tus bytes is `415 Unsupported Media Type`, a PATCH with no usable
 * offset `400`.
 */
function malformedRequest(ctx: Context): TusAnswer | undefined {
  const contentType = ctx.get('content-type');
  if (ctx.method === 'PATCH') {
    // "All PATCH requests MUST use Content-Type: application/offset+octet-stream"
    if (contentType !== OFFSET_OCTET_STREAM) return text(415, `PATCH bodies must be sent as Content-Type: ${OFFSET_OCTET_STREAM}`);
    // "The Upload-Offset header's value MUST be equal to the current offset of the resource."
    if (!OFFSET.test(ctx.get('upload-offset'))) return text(400, 'Upload-Offset must be given, as a non-negative integer');
  }
  // creation-with-upload: "the Client MUST include the Content-Type: application/offset+octet-stream header".
  if (ctx.method === 'POST' && hasBody(ctx) && contentType !== OFFSET_OCTET_STREAM) {
    return text(415, `A creation request's body must be sent as Content-Type: ${OFFSET_OCTET_STREAM}`);
  }
  return undefined;
}

/** "A successful response indicated by the 204 No Content or 200 OK status": 200, as tusd and clients expect. */
function options(maxSize: number): TusAnswer {
  return {
    status: 200,
    headers: {
      'tus-version': TUS_VERSION,
      'tus-extension': TUS_EXTENSIONS.join(','),
      'tus-max-size': String(maxSize),
      'tus-checksum-algorithm': CHECKSUM_ALGORITHMS.join(','),
    },
  };
}

/**
 * A PATCH on an upload that is already complete, answered as tusd does: at the final
 * offset `204` with that offset (and the file's id), nothing read; at any other offset
 * "the Server MUST respond with the 409 Conflict status". Uploads that are not the caller's
 * or not complete go on to tus and get its answer (malformed requests were answered before).
 */
async function patchOnFinishedUpload(ctx: Context, deps: TusRouteDeps): Promise<TusAnswer | undefined> {
  const offsetHeader = ctx.get('upload-offset');
  const session = await ownSessionOf(ctx, deps);
  // "The Server MUST respond with the 403 Forbidden status to PATCH requests against a final upload URL"
  if (session?.concat === 'final') return text(403, 'A final upload is made of its partial uploads: it takes no PATCH');
  if (!isComplete(session)) return undefined;
  const size = String(session.size);
  if (Number(offsetHeader) !== session.size) return text(409, `Upload-Offset conflict: the upload is complete at ${size}`, { 'upload-offset': size });
  const registration = await deps.uploads.ensureRegistered(session, ctx.state.requestId);
  return { status: 204, headers: { 'upload-offset': size, ...registrationHeaders(registration) } };
}

/** Where a request keeps the caller's session once read (ownSessionOf). */
const seenIn = (ctx: Context) => ctx.state as { sessionSeen?: SessionSeen };

/**
 * The caller's upload; nothing when it is not theirs (or not there), and tus answers. Read
 * once per request (its owner and kind never change); a failed read is not kept.
 */
async function ownSessionOf(ctx: Context, deps: TusRouteDeps): Promise<UploadSession | undefined> {
  const id = uploadIdOf(ctx);
  if (!id) return undefined;
  const state = seenIn(ctx);
  if (state.sessionSeen) return state.sessionSeen.session;
  try {
    const session = await deps.uploads.ownedBy(id, ctx.state.userId);
    state.sessionSeen = { session };
    return session;
  } catch {
    return undefined;
  }
}

const isComplete = (session: UploadSession | undefined): session is UploadSession & { size: number } => session?.state === 'completed' && session.size !== null;

/**
 * A HEAD on an upload that is complete, answered from its session. Uppy "resumes" a
 * finished file with a HEAD alone, however long ago it finished, and tus-js-client starts
 * a new upload (a second file) on a 410. @tus/server counts expiry from creation, finished
 * or not; but only "unfinished uploads" expire, so a complete one is never 410 for its
 * age, carries no Upload-Expires, and names its file (registering it if that is pending).
 * A finished partial upload is the exception: no file holds its bytes, and it expires
 * (the expiry sweep removes it) as an unfinished upload does.
 */
async function headOnFinishedUpload(ctx: Context, deps: TusRouteDeps): Promise<TusAnswer | undefined> {
  const session = await ownSessionOf(ctx, deps);
  if (!isComplete(session)) return undefined;
  const registration = await deps.uploads.ensureRegistered(session, ctx.state.requestId);
  const size = String(session.size);
  // "The Server MUST prevent the client and/or proxies from caching the response."
  const headers: Record<string, string> = { 'cache-control': 'no-store', 'upload-offset': size, 'upload-length': size, ...registrationHeaders(registration) };
  if (Object.keys(session.metadata).length > 0) headers['upload-metadata'] = Metadata.stringify(session.metadata);
  Object.assign(headers, sessionHeaders(session, deps, session.concat === 'partial'));
  return { status: 200, headers };
}

/**
 * What a HEAD says from the session beside tus's own headers: `Upload-Concat` ("the
 * response to a HEAD request for a partial or final upload MUST include the Upload-Concat
 * header") and, for an upload that can expire, `Upload-Expires`.
 */
function sessionHeaders(session: UploadSession, deps: TusRouteDeps, expires: boolean): Record<string, string> {
  const headers: Record<string, string> = {};
  const concat = concatHeaderOf(session);
  if (concat) headers['upload-concat'] = concat;
  const expiresAfterMs = deps.tus.datastore.getExpiration();
  if (expires && expiresAfterMs > 0) headers['upload-expires'] = new Date(session.createdAt.getTime() + expiresAfterMs).toUTCString();
  return headers;
}

/**
 * The checksum extension: the body is spooled and hashed before tus sees any of it.
 * "The Server MUST ... respond with the 460 Checksum Mismatch status if the checksums
 * mismatch", and the offset does not move because nothing was written.
 */
async function verifyChecksum(ctx: Context, deps: TusRouteDeps): Promise<SpooledBody | TusAnswer> {
  const expected = parseChecksumHeader(ctx.get('upload-checksum'));
  if (!expected) return text(400, `Upload-Checksum must be "<algorithm> <base64 digest>" with one of ${CHECKSUM_ALGORITHMS.join(', ')}`);
  if (ctx.method === 'PATCH') {
    // Only the owner's bodies are worth spooling; tus checks everything else again.
    const id = uploadIdOf(ctx);
    const session = id ? await deps.uploads.ownedBy(id, ctx.state.userId) : undefined;
    if (!session) return text(404, 'Upload not found');
  }
  try {
    const spooled = await spoolAndHash(ctx.req, expected, deps.spoolDir, deps.maxSize);
    if (spooled.matches) return spooled;
    await spooled.discard();
    deps.metrics.tus.failed('checksum');
    return text(460, 'Checksum mismatch: the body was discarded and the offset is unchanged');
  } catch (err) {
    if (err instanceof BodyTooLarge) return text(413, 'Request body is larger than the maximum upload size');
    deps.metrics.tus.failed('aborted');
    deps.logger.info({ err }, 'checksummed body not received');
    return text(400, 'Request body could not be read');
  }
}

/** Metrics, progress and file ids, once tus has answered. */
async function afterAnswer(ctx: Context, deps: TusRouteDeps, answer: TusAnswer, from: number | undefined): Promise<void> {
  const id = uploadIdOf(ctx) ?? locationId(answer.headers.location);
  if (ctx.method === 'DELETE') {
    // Recorded before the 204 goes out: every request after it is answered 410 Gone, none
    // reaches a store that no longer has the upload (404) or a session still "completed".
    if (id && answer.status === 204) await deps.uploads.terminate(id).catch((err) => deps.logger.warn({ err, uploadId: id }, 'termination not recorded'));
    return;
  }
  const offset = answer.headers['upload-offset'] === undefined ? undefined : Number(answer.headers['upload-offset']);
  if (from !== undefined) {
    // A client that went away mid-body gets no offset, but what reached the store was received all the same.
    const broken = brokenBody(ctx.req);
    const reached = broken ? broken.storedOffset : offset;
    if (reached !== undefined && reached > from) deps.metrics.tus.bytesReceived.inc(reached - from);
    if (broken) deps.metrics.tus.failed('aborted');
    else if (answer.status >= 460 || answer.status === 423) deps.metrics.tus.failed(answer.status === 423 ? 'locked' : 'server');
  }
  if (ctx.method === 'PATCH' && answer.status === 409 && id) {
    // Tell the client where the upload really is, so it can continue from there.
    const session = await ownSessionOf(ctx, deps);
    const current = await deps.tus.datastore.getUpload(id).catch(() => undefined);
    if (session && current) answer.headers['upload-offset'] = String(current.offset);
    return;
  }
  if (!id || answer.status >= 300 || offset === undefined) return;
  const length = answer.headers['upload-length'];
  if (ctx.method === 'HEAD' && length !== undefined && Number(length) === offset) {
    // Uppy "resumes" a finished file with a HEAD alone, so a HEAD on a finished upload names
    // its file too (and registers it, if the files service was away when it finished).
    const registration = await registrationOnHead(ctx, deps, id, offset);
    if (registration) Object.assign(answer.headers, registrationHeaders(registration));
    await addSessionHeaders(ctx, deps, answer, true);
    return;
  }
  if (ctx.method === 'HEAD') await addSessionHeaders(ctx, deps, answer);
  // Keep the operator's view in step with the store after every answer that states an
  // offset; a HEAD's is the store's own, so it also corrects a record that got ahead of it.
  const record = ctx.method === 'HEAD' ? deps.uploads.recordStoredOffset(id, offset) : deps.uploads.recordProgress(id, offset);
  await record.catch((err) => deps.logger.warn({ err, uploadId: id }, 'progress not recorded'));
}

/**
 * The expiration extension: "The Server SHOULD include the Upload-Expires header" in
 * answers about an unfinished upload (@tus/server does for POST and PATCH, not HEAD).
 * Counted from creation, as tus and the expiry sweep count; in RFC 9110's date format.
 */
async function addSessionHeaders(ctx: Context, deps: TusRouteDeps, answer: TusAnswer, finished = false): Promise<void> {
  const session = await ownSessionOf(ctx, deps);
  if (session) Object.assign(answer.headers, sessionHeaders(session, deps, !finished || session.concat === 'partial'));
}

/**
 * The store holds every byte. If the request that wrote the last ones died before its
 * bookkeeping, the session is still in flight: this HEAD completes it.
 */
async function registrationOnHead(ctx: Context, deps: TusRouteDeps, id: string, size: number): Promise<Registration | undefined> {
  const session = await deps.uploads.ownedBy(id, ctx.state.userId).catch(() => undefined);
  if (!session) return undefined;
  try {
    if (session.state === 'completed') return await deps.uploads.ensureRegistered(session, ctx.state.requestId);
    if (session.state === 'created' || session.state === 'uploading') return (await deps.uploads.finish(id, size, ctx.state.requestId)).registration;
  } catch (err) {
    deps.logger.warn({ err, uploadId: id }, 'registration on HEAD not done');
  }
  return undefined;
}

/** The request as tus takes it; `overrides` replace headers (undefined removes one). */
function toWebRequest(ctx: Context, body: Readable | undefined, overrides: Record<string, string | undefined> = {}): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(ctx.req.headers)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) headers.delete(name);
    else headers.set(name, value);
  }
  const url = `http://${ctx.get('host') || '127.0.0.1'}${ctx.originalUrl}`;
  return new Request(url, {
    method: ctx.method,
    headers,
    body: body ? standInFor(body) : undefined,
    duplex: 'half',
  } as RequestInit);
}

function uploadIdOf(ctx: Context): string | undefined {
  if (!ctx.path.startsWith(`${TUS_PATH}/`)) return undefined;
  try {
    return decodeURIComponent(ctx.path.slice(TUS_PATH.length + 1));
  } catch {
    return undefined;
  }
}

