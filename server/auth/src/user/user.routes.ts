import Router from '@koa/router';
import { EXACT_ROUTING, cleanText, normalizeEmail, notFound, parseBody, parseQuery, requireUser, withCleanText } from '@govault/lib';
import type Koa from 'koa';
import { z } from 'zod';
import { clientAddress } from '../http/client-address.ts';
import { emailToFind } from '../http/text-fields.ts';
import type { User } from './user.entity.ts';
import { MAX_PASSWORD_BYTES, MIN_PASSWORD_BYTES } from '../password/password-hasher.ts';
import type { UserService } from './user.service.ts';

const registerBody = z.strictObject({
  email: withCleanText(z.email().max(320)),
  // Any printable Unicode; control characters (NUL among them) are refused, see text-fields.ts.
  password: cleanText()
    .refine((p) => Buffer.byteLength(p, 'utf8') >= MIN_PASSWORD_BYTES, `must be at least ${MIN_PASSWORD_BYTES} bytes`)
    .refine((p) => Buffer.byteLength(p, 'utf8') <= MAX_PASSWORD_BYTES, `must be at most ${MAX_PASSWORD_BYTES} bytes`),
  displayName: withCleanText(z.string().trim().min(1).max(200)).optional(),
}).refine((v) => normalizeEmail(v.password) !== normalizeEmail(v.email), {
  path: ['password'],
  message: 'must not be the email address',
});

const byEmailQuery = z.strictObject({ email: emailToFind() });

export function userView(user: User) {
  return { id: user.id, email: user.email, displayName: user.displayName, createdAt: user.createdAt.toISOString() };
}

/** Public routes, reached through the gateway: `fromGateway` refuses every other caller. */
export function userRoutes(users: UserService, fromGateway: Koa.Middleware): Router {
  const router = new Router(EXACT_ROUTING);

  router.post('/api/auth/register', fromGateway, async (ctx) => {
    const input = parseBody(ctx, registerBody);
    ctx.status = 201;
    ctx.body = userView(await users.register(input, clientAddress(ctx)));
  });

  router.get('/api/auth/me', fromGateway, requireUser(), async (ctx) => {
    ctx.body = userView(await users.get(ctx.state.userId as string));
  });

  return router;
}

/**
 * Lookups for the files service, which resolves share grantees by email or id; `fromFiles`
 * refuses every other caller (the gateway never needs them: least privilege).
 */
export function internalUserRoutes(users: UserService, fromFiles: Koa.Middleware): Router {
  const router = new Router(EXACT_ROUTING);

  router.get('/internal/users/:id', fromFiles, async (ctx) => {
    // A malformed id names no user: 404, as for any unknown id.
    const id = z.uuid().safeParse(ctx.params.id);
    if (!id.success) throw notFound('user');
    ctx.body = userView(await users.get(id.data));
  });

  router.get('/internal/users', fromFiles, async (ctx) => {
    const { email } = parseQuery(ctx, byEmailQuery);
    ctx.body = userView(await users.getByEmail(email));
  });

  return router;
}
