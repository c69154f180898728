import type { Context, Next } from 'koa';
import type { Server } from '@tus/server';
import { notFound } from '@govault/lib';
import type { UploadService } from '../session/upload.service.ts';
import type { UploadMetrics } from './tus-metrics.ts';
import { FILE_ID_HEADER, TUS_PATH, vouchForUser } from './tus-server.ts';

const TUS_METHODS = new Set(['OPTIONS', 'POST', 'HEAD', 'PATCH', 'DELETE']);

/** Hands /api/uploads/tus[/:id] to the tus server, with the caller's verified identity. */
export function tusRoutes(tus: Server, uploads: UploadService, metrics: UploadMetrics) {
  return async (ctx: Context, next: Next) => {
    if (ctx.path !== TUS_PATH && !ctx.path.startsWith(`${TUS_PATH}/`)) return next();
    if (!TUS_METHODS.has(ctx.method)) throw notFound('route');
    ctx.state.routeName = ctx.path === TUS_PATH ? TUS_PATH : `${TUS_PATH}/:id`;
    vouchForUser(ctx.req, ctx.state.userId);
    if (ctx.method === 'HEAD') await announceFinishedFile(ctx, uploads);
    if (ctx.method === 'PATCH' || ctx.method === 'POST') countBytes(ctx, metrics);
    ctx.respond = false;
    await tus.handle(ctx.req, ctx.res);
  };
}

/**
 * Uppy "resumes" a finished file with a HEAD alone, so a HEAD on a finished upload names
 * its file too (and registers it, if the files service was away when it finished).
 */
async function announceFinishedFile(ctx: Context, uploads: UploadService): Promise<void> {
  const uploadId = decodeURIComponent(ctx.path.slice(TUS_PATH.length + 1));
  const session = await uploads.ownedBy(uploadId, ctx.state.userId).catch(() => undefined);
  if (session?.state !== 'completed') return;
  const fileId = await uploads.ensureRegistered(session, ctx.state.requestId);
  if (fileId) ctx.res.setHeader(FILE_ID_HEADER, fileId);
}

/** Bytes accepted = how far the answer's Upload-Offset moved past the request's. */
function countBytes(ctx: Context, metrics: UploadMetrics): void {
  const from = ctx.method === 'PATCH' ? Number(ctx.get('upload-offset')) : 0;
  ctx.res.once('finish', () => {
    const to = Number(ctx.res.getHeader('upload-offset'));
    if (Number.isFinite(from) && Number.isFinite(to) && to > from) metrics.bytesReceived.inc(to - from);
  });
}
