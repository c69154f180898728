import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import { EXACT_ROUTING, cleanText, parse, parseBody, parseQuery, requireInternalToken, requireUser, type InternalTokenVerifier } from '@govault/lib';
import { z } from 'zod';
import { uuid } from '../ids.ts';
import type { FileService } from './file.service.ts';
import { fileName } from './names.ts';
import { sendContent } from './send-content.ts';

const blankToUndefined = (v: unknown) => (v === '' ? undefined : v);

const listQuery = z.object({
  view: z.preprocess(blankToUndefined, z.enum(['owned', 'shared', 'shortcuts', 'trash']).default('owned')),
  limit: z.preprocess(blankToUndefined, z.coerce.number().int().min(1).max(100).default(50)),
  cursor: z.preprocess(blankToUndefined, z.string().max(512).optional()),
  // No name holds a control character or a lone surrogate, and PostgreSQL cannot take a
  // NUL in a parameter: such a search is a client mistake, not an empty result.
  q: z.preprocess(
    blankToUndefined,
cleanText().max(255).optional(),
  ),
});

export const fileId = z.object({ id: uuid() });

const patchBody = z
  .strictObject({ name: fileName().optional(), visibility: z.enum(['private', 'public']).optional() })
  .refine((body) => body.name !== undefined || body.visibility !== undefined, 'name or visibility is required');

/** JSON bodies of the user routes: small, JSON only (a bad body is a 400, a huge one 413). */
export const jsonBody = () => bodyParser({ enableTypes: ['json'], jsonLimit: '64kb', encoding: 'utf-8' });

/** The user's file routes; the gateway has authenticated the user and bound them into the token. */
export function fileRoutes(files: FileService, verifier: InternalTokenVerifier): Router {
  const router = new Router(EXACT_ROUTING);
  // Per route rather than router.use(), so metrics and logs see the route's own pattern.
  const user = [requireInternalToken(verifier, ['gateway']), requireUser()];

  router.get('/api/files', ...user, async (ctx) => {
    ctx.body = await files.list(ctx.state.userId, parseQuery(ctx, listQuery));
  });

  router.get('/api/files/:id', ...user, async (ctx) => {
    ctx.body = await files.get(ctx.state.userId, parse(fileId, ctx.params).id);
  });

  router.patch('/api/files/:id', ...user, jsonBody(), async (ctx) => {
    const { id } = parse(fileId, ctx.params);
    ctx.body = await files.update(ctx.state.userId, id, parseBody(ctx, patchBody));
  });

  router.delete('/api/files/:id', ...user, async (ctx) => {
    await files.trash(ctx.state.userId, parse(fileId, ctx.params).id);
    ctx.status = 204;
  });

  router.post('/api/files/:id/restore', ...user, async (ctx) => {
    ctx.body = await files.restore(ctx.state.userId, parse(fileId, ctx.params).id);
  });

  router.delete('/api/files/:id/permanent', ...user, async (ctx) => {
    await files.deletePermanently(ctx.state.userId, parse(fileId, ctx.params).id);
    ctx.status = 204;
  });

  router.get('/api/files/:id/content', ...user, async (ctx) => {
    const { file, content } = await files.content(ctx.state.userId, parse(fileId, ctx.params).id);
    sendContent(ctx, file, content);
  });

  return router;
}
