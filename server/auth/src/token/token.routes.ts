import Router from '@koa/router';
import { EXACT_ROUTING, cleanText, parseBody, requireUser } from '@govault/lib';
import type Koa from 'koa';
import { z } from 'zod';
import { clientAddress } from '../http/client-address.ts';
import { emailToFind } from '../http/text-fields.ts';
import type { SessionService } from './session.service.ts';
import type { SigningKeyRing } from './signing-keys.ts';

const loginBody = z.strictObject({
  email: emailToFind(),
  // Not checked against the register rules here: a wrong password is a 401, not a 400
  // (UserService.authenticate refuses what no registered password can contain).
  password: z.string().min(1).max(1024),
});

const refreshBody = z.strictObject({ refreshToken: cleanText().min(1).max(512) });

/** Public routes, reached through the gateway: `fromGateway` refuses every other caller. */
export function tokenRoutes(sessions: SessionService, keys: SigningKeyRing, fromGateway: Koa.Middleware): Router {
  const router = new Router(EXACT_ROUTING);

  router.post('/api/auth/login', fromGateway, async (ctx) => {
    const { email, password } = parseBody(ctx, loginBody);
    ctx.body = await sessions.login(email, password, clientAddress(ctx));
  });

  router.post('/api/auth/refresh', fromGateway, async (ctx) => {
    const { refreshToken } = parseBody(ctx, refreshBody);
    ctx.body = await sessions.refresh(refreshToken);
  });

  router.post('/api/auth/logout', fromGateway, requireUser(), async (ctx) => {
    await sessions.logout(ctx.state.userId as string);
    ctx.status = 204;
  });

  router.get('/api/auth/jwks.json', fromGateway, (ctx) => {
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = keys.jwks();
  });

  return router;
}
