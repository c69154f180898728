import type { Context } from 'koa';
import type { Locker, Upload } from '@tus/server';
import type { Logger } from '@govault/lib';
import type { UploadService } from '../session/upload.service.ts';
import type { UploadSession } from '../session/upload-session.entity.ts';
import type { ConcatenatingStore } from '../storage/data-store.ts';
import { hasBody, locationId, text, type TusAnswer } from './tus-answer.ts';
import { TUS_PATH, registrationHeaders } from './tus-server.ts';
import type { ConcatCreation } from '../session/upload-session.entity.ts';

/**
 * The tus concatenation extension (https://tus.io/protocols/resumable-upload#concatenation):
 * a client uploads pieces of a file as partial uploads, in parallel, then creates the final
 * upload from them. @tus/server and its stores do not have it; GoVault reads `Upload-Concat`
 * here, lets tus create each upload as a plain one, and joins the bytes in the store.
 */

/** The most partials one final upload may name (tusd has no limit; a header is at most a few KiB here anyway). */
export const MAX_PARTIALS = 256;
const UPLOAD_ID = /^[0-9a-f]{32}$/;

export type ConcatHeader = ConcatCreation | { kind: 'malformed'; problem: string };

/**
 * `Upload-Concat` of a creation request: `partial`, or "final; followed by a space-separated
 * list of partial upload URLs". "The partial uploads URLs MAY be absolute or relative": only
 * their paths count, and each must be an upload URL of this endpoint.
 */
export function parseUploadConcat(value: string): ConcatHeader {
  if (value === 'partial') return { kind: 'partial' };
  if (!value.startsWith('final;')) return { kind: 'malformed', problem: 'Upload-Concat must be "partial" or "final;<partial upload URLs>"' };
  const urls = value.slice('final;'.length).trim().split(/ +/).filter(Boolean);
  if (urls.length === 0) return { kind: 'malformed', problem: 'Upload-Concat: a final upload names at least one partial upload' };
  if (urls.length > MAX_PARTIALS) return { kind: 'malformed', problem: `Upload-Concat: a final upload names at most ${MAX_PARTIALS} partial uploads` };
  const parts: string[] = [];
  for (const url of urls) {
    const id = uploadIdOfUrl(url);
    if (!id) return { kind: 'malformed', problem: `Upload-Concat: ${JSON.stringify(url.slice(0, 200))} is not an upload URL of ${TUS_PATH}` };
    parts.push(id);
  }
  return { kind: 'final', parts };
}

function uploadIdOfUrl(url: string): string | undefined {
  let path: string;
  try {
    path = new URL(url, 'http://relative.invalid').pathname;
  } catch {
    return undefined;
  }
  const at = path.lastIndexOf(`${TUS_PATH}/`);
  const id = at < 0 ? '' : path.slice(at + TUS_PATH.length + 1);
  return UPLOAD_ID.test(id) ? id : undefined;
}

/** The `Upload-Concat` a HEAD answers for an upload of a concatenation; undefined for a plain upload. */
export function concatHeaderOf(session: UploadSession): string | undefined {
  if (session.concat === 'partial') return 'partial';
  if (session.concat === 'final') return `final;${(session.concatParts ?? []).map((id) => `${TUS_PATH}/${id}`).join(' ')}`;
  return undefined;
}

export interface FinalUploadDeps {
  uploads: UploadService;
  store: ConcatenatingStore;
  locker: Locker;
  logger: Logger;
  /** Creates the final upload through tus as a plain upload of `length` bytes, with no body: tus checks the size and metadata and builds the Location. */
  createThroughTus(length: number, creation: ConcatCreation): Promise<TusAnswer>;
}

/**
 * "The Server MUST respond with the 201 Created status" to a final upload's creation, whose
 * length is the sum of its partials'. Each partial is checked in the store under its own
 * lock, one at a time (so a final naming many partials holds one lock connection, never
 * all of them). A finished partial's bytes never change, so the copy needs no lock: if a
 * partial is terminated or expires meanwhile, the copy fails and the answer is that 410.
 * The partials stay afterwards: "They MAY however be used multiple times to form a final
 * resource", until they expire.
 */
export async function createFinalUpload(ctx: Context, deps: FinalUploadDeps, parts: string[]): Promise<TusAnswer> {
  // "The Client MUST NOT include the Upload-Length header in the final upload creation."
  if (ctx.get('upload-length') !== '' || ctx.get('upload-defer-length') !== '') return text(400, 'A final upload takes its length from its partials: send no Upload-Length or Upload-Defer-Length');
  if (hasBody(ctx)) return text(400, 'A final upload is made of its partials: its creation request carries no body');
  const partials = new Map<string, Upload>();
  for (const id of new Set(parts)) {
    const checked = await underLock(deps.locker, id, () => finishedPartial(ctx, deps, id));
    if ('status' in checked) return checked;
    partials.set(id, checked);
  }
  const ordered = parts.map((id) => partials.get(id)!);
  const length = ordered.reduce((sum, p) => sum + p.size!, 0);
  const created = await deps.createThroughTus(length, { kind: 'final', parts });
  const finalId = created.status === 201 ? locationId(created.headers.location) : undefined;
  if (!finalId) return created;
  try {
    await deps.store.concatenate(finalId, ordered);
  } catch (err) {
    await deps.store.remove(finalId).catch(() => undefined);
    await deps.uploads.terminate(finalId).catch(() => undefined);
    const gone = await firstGonePartial(ctx, deps, [...partials.keys()]);
    if (gone) return text(410, `Partial upload ${TUS_PATH}/${gone} was terminated or expired while it was being joined`);
    deps.logger.error({ err, uploadId: finalId, parts }, 'could not join the partial uploads');
    return text(503, 'The partial uploads could not be joined just now; try the final upload again');
  }
  const headers = { ...created.headers };
  delete headers['upload-expires']; // tus said it of an upload without bytes; the final has them all
  const finished = await deps.uploads.finish(finalId, length, ctx.state.requestId).catch((err) => {
    // The bytes are complete in the store: the next HEAD finishes the bookkeeping.
    deps.logger.error({ err, uploadId: finalId }, 'could not record the final upload');
    return undefined;
  });
  const registration = finished ? registrationHeaders(finished.registration) : {};
  return { status: 201, headers: { ...headers, ...registration, 'upload-concat': `final;${parts.map((id) => `${TUS_PATH}/${id}`).join(' ')}` }, body: created.body };
}

/** A partial that is no longer there for the caller (terminated, expired), if one is. */
async function firstGonePartial(ctx: Context, deps: FinalUploadDeps, ids: string[]): Promise<string | undefined> {
  for (const id of ids) {
    const session = await deps.uploads.ownedBy(id, ctx.state.userId).catch(() => undefined);
    if (!session || session.state === 'terminated' || session.state === 'expired') return id;
  }
  return undefined;
}

/**
 * One partial named by a final upload, as its store holds it. Not the caller's (or not
 * there): 404, as for any request on it. Terminated or expired: 410. Not a partial, or
 * not finished: 400, since this server does not offer `concatenation-unfinished`.
 */
async function finishedPartial(ctx: Context, deps: FinalUploadDeps, id: string): Promise<Upload | TusAnswer> {
  const session = await deps.uploads.ownedBy(id, ctx.state.userId);
  if (!session) return text(404, `Partial upload ${TUS_PATH}/${id} not found`);
  if (session.state === 'terminated' || session.state === 'expired') return text(410, `Partial upload ${TUS_PATH}/${id} was terminated or has expired`);
  if (session.concat !== 'partial') return text(400, `${TUS_PATH}/${id} is not a partial upload (Upload-Concat: partial)`);
  const stored = await deps.store.getUpload(id).catch(() => undefined);
  if (!stored) return text(410, `Partial upload ${TUS_PATH}/${id} is no longer stored`);
  if (stored.size === undefined || stored.offset !== stored.size) return text(400, `Partial upload ${TUS_PATH}/${id} is not finished (${stored.offset} bytes of ${stored.size ?? 'a deferred length'})`);
  // Its last PATCH may have died before its bookkeeping: the store holds every byte.
  if (session.state !== 'completed') await deps.uploads.finish(id, stored.size);
  return stored;
}

/** `check` under the upload's tus lock, as a PATCH or DELETE of it would hold it; 423 when another request keeps it too long. */
async function underLock<T>(locker: Locker, id: string, check: () => Promise<T>): Promise<T | TusAnswer> {
  const lock = locker.newLock(id);
  try {
    // A request holding the partial is asked to let go, as for a HEAD; a finished partial has none for long.
    await lock.lock(new AbortController().signal, async () => undefined);
  } catch (err) {
    if ((err as { status_code?: number })?.status_code === 423) return text(423, `Partial upload ${TUS_PATH}/${id} is locked by another request, try again`);
    throw err;
  }
  try {
    return await check();
  } finally {
    await lock.unlock().catch(() => undefined);
  }
}
