import Router from '@koa/router';
import { EXACT_ROUTING, parseBody, requireUser } from '@govault/lib';
import { z } from 'zod';
import type { SessionService } from './session.service.ts';
import type { SigningKeyRing } from './signing-keys.ts';

const loginBody = z.strictObject({
  email: z.string().min(1).max(320),
  // Not checked against the register rules here: a wrong password is a 401, not a 400.
  password: z.string().min(1).max(1024),
});

const refreshBody = z.strictObject({ refreshToken: z.string().min(1).max(512) });

export function tokenRoutes(sessions: SessionService, keys: SigningKeyRing): Router {
  const router = new Router(EXACT_ROUTING);

  router.post('/api/auth/login', async (ctx) => {
    const { email, password } = parseBody(ctx, loginBody);
    ctx.body = await sessions.login(email, password);
  });

  router.post('/api/auth/refresh', async (ctx) => {
    const { refreshToken } = parseBody(ctx, refreshBody);
    ctx.body = await sessions.refresh(refreshToken);
  });

  router.post('/api/auth/logout', requireUser(), async (ctx) => {
    await sessions.logout(ctx.state.userId as string);
    ctx.status = 204;
  });

  router.get('/api/auth/jwks.json', (ctx) => {
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = keys.jwks();
  });

  return router;
}
