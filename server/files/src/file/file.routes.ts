import Router from '@koa/router';
import {
  AppError,
  parse,
  parseQuery,
  requireInternalToken,
  requireUser,
  type InternalTokenVerifier,
} from '@govault/lib';
import type { Context } from 'koa';
import { z } from 'zod';
import { attachmentDisposition } from '../storage/content-disposition.ts';
import type { ObjectContent } from '../storage/object-storage.ts';
import type { FileService, FileView } from './file.service.ts';
import { parseRange } from './range.ts';

const blankToUndefined = (v: unknown) => (v === '' ? undefined : v);

const listQuery = z.object({
  view: z.preprocess(blankToUndefined, z.enum(['owned', 'shared', 'shortcuts', 'trash']).default('owned')),
  limit: z.preprocess(blankToUndefined, z.coerce.number().int().min(1).max(100).default(50)),
  cursor: z.preprocess(blankToUndefined, z.string().max(512).optional()),
  q: z.preprocess(blankToUndefined, z.string().max(255).optional()),
});

const fileId = z.object({ id: z.uuid() });

/** The user's file routes; the gateway has authenticated the user and bound them into the token. */
export function fileRoutes(files: FileService, verifier: InternalTokenVerifier): Router {
  const router = new Router();
  // Per route rather than router.use(), so metrics and logs see the route's own pattern.
  const user = [requireInternalToken(verifier, ['gateway']), requireUser()];

  router.get('/api/files', ...user, async (ctx) => {
    ctx.body = await files.list(ctx.state.userId, parseQuery(ctx, listQuery));
  });

  router.get('/api/files/:id', ...user, async (ctx) => {
    const { id } = parse(fileId, ctx.params);
    ctx.body = await files.get(ctx.state.userId, id);
  });

  router.get('/api/files/:id/content', ...user, async (ctx) => {
    const { id } = parse(fileId, ctx.params);
    const { file, content } = await files.content(ctx.state.userId, id);
    if (content.kind === 'redirect') {
      ctx.set('Cache-Control', 'no-store');
      ctx.redirect(content.url);
      return;
    }
    sendLocal(ctx, file, content);
  });

  return router;
}

function sendLocal(ctx: Context, file: FileView, content: Extract<ObjectContent, { kind: 'local' }>): void {
  const { size } = content;
  const range = parseRange(ctx.get('range') || undefined, size);
  if (range === 'unsatisfiable') {
    throw new AppError('validation_failed', 416, 'Range not satisfiable', undefined, {
      headers: { 'Content-Range': `bytes */${size}` },
    });
  }
  ctx.set('Content-Type', file.contentType);
  ctx.set('Content-Disposition', attachmentDisposition(file.name));
  ctx.set('Accept-Ranges', 'bytes');
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('Cache-Control', 'private, no-cache');
  ctx.body = content.read(range);
  if (range) {
    ctx.status = 206;
    ctx.set('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
  }
  ctx.length = range ? range.end - range.start + 1 : size;
}
