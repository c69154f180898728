import Router from '@koa/router';
import { EXACT_ROUTING, parse, parseBody, requireInternalToken, requireUser, type InternalTokenVerifier } from '@govault/lib';
import { z } from 'zod';
import { jsonBody } from '../file/file.routes.ts';
import type { ShareService } from './share.service.ts';

const role = z.enum(['viewer', 'editor']);

/** Grant by user id or by email, never both. */
const grantBody = z.union([
  z.strictObject({ userId: z.uuid(), role }),
  z.strictObject({ email: z.email().max(320), role }),
]);

const fileParams = z.object({ id: z.uuid() });
const shareParams = z.object({ id: z.uuid(), userId: z.uuid() });

export function shareRoutes(shares: ShareService, verifier: InternalTokenVerifier): Router {
  const router = new Router(EXACT_ROUTING);
  const user = [requireInternalToken(verifier, ['gateway']), requireUser()];

  router.get('/api/files/:id/shares', ...user, async (ctx) => {
    ctx.body = { items: await shares.list(ctx.state.userId, parse(fileParams, ctx.params).id) };
  });

  router.post('/api/files/:id/shares', ...user, jsonBody(), async (ctx) => {
    const { id } = parse(fileParams, ctx.params);
    const { role: granted, ...grantee } = parseBody(ctx, grantBody);
    ctx.status = 201;
    ctx.body = await shares.grant(ctx.state.userId, id, grantee, granted, ctx.state.requestId);
  });

  router.put('/api/files/:id/shares/:userId', ...user, jsonBody(), async (ctx) => {
    const { id, userId } = parse(shareParams, ctx.params);
    ctx.body = await shares.changeRole(ctx.state.userId, id, userId, parseBody(ctx, z.strictObject({ role })).role);
  });

  router.delete('/api/files/:id/shares/:userId', ...user, async (ctx) => {
    const { id, userId } = parse(shareParams, ctx.params);
    await shares.revoke(ctx.state.userId, id, userId);
    ctx.status = 204;
  });

  return router;
}
