import Router from '@koa/router';
import { EXACT_ROUTING, parse, parseBody, requireInternalToken, requireUser, type InternalTokenVerifier } from '@govault/lib';
import { z } from 'zod';
import { jsonBody } from '../file/file.routes.ts';
import { uuid } from '../ids.ts';
import type { Grantee, ShareService } from './share.service.ts';

const role = z.enum(['viewer', 'editor']);
const email = () => z.email().max(320);

/** Grant by user id or by email, never both. */
const grantBody = z.union([
  z.strictObject({ userId: uuid(), role }),
  z.strictObject({ email: email(), role }),
]);

const fileParams = z.object({ id: uuid() });
/**
 * A grant is addressed by the user id of a share, or by the email of an invitation (and
 * of the share it became): `/shares/bob%40example.com`.
 */
const grantParams = z.object({
  id: uuid(),
  grantee: z.union([uuid().transform((id): Grantee => ({ userId: id })), email().transform((e): Grantee => ({ email: e }))]),
});

export function shareRoutes(shares: ShareService, verifier: InternalTokenVerifier): Router {
  const router = new Router(EXACT_ROUTING);
  const user = [requireInternalToken(verifier, ['gateway']), requireUser()];

  router.get('/api/files/:id/shares', ...user, async (ctx) => {
    ctx.body = { items: await shares.list(ctx.state.userId, parse(fileParams, ctx.params).id) };
  });

  // 201 with the grant. By email it is always a pending invitation, registered or not.
  router.post('/api/files/:id/shares', ...user, jsonBody(), async (ctx) => {
    const { id } = parse(fileParams, ctx.params);
    const { role: granted, ...grantee } = parseBody(ctx, grantBody);
    ctx.status = 201;
    ctx.body = await shares.grant(ctx.state.userId, id, grantee, granted, ctx.state.requestId);
  });

  router.put('/api/files/:id/shares/:grantee', ...user, jsonBody(), async (ctx) => {
    const { id, grantee } = parse(grantParams, ctx.params);
    ctx.body = await shares.changeRole(ctx.state.userId, id, grantee, parseBody(ctx, z.strictObject({ role })).role);
  });

  router.delete('/api/files/:id/shares/:grantee', ...user, async (ctx) => {
    const { id, grantee } = parse(grantParams, ctx.params);
    await shares.revoke(ctx.state.userId, id, grantee);
    ctx.status = 204;
  });

  return router;
}
