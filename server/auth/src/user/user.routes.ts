import Router from '@koa/router';
import { EXACT_ROUTING, parseBody, parseQuery, requireUser, notFound } from '@govault/lib';
import { z } from 'zod';
import type { User } from './user.entity.ts';
import { MAX_PASSWORD_BYTES, MIN_PASSWORD_BYTES } from './password-hasher.ts';
import type { UserService } from './user.service.ts';

const email = () => z.email().max(320);

const registerBody = z.strictObject({
  email: email(),
  password: z
    .string()
    .refine((p) => Buffer.byteLength(p, 'utf8') >= MIN_PASSWORD_BYTES, `must be at least ${MIN_PASSWORD_BYTES} bytes`)
    .refine((p) => Buffer.byteLength(p, 'utf8') <= MAX_PASSWORD_BYTES, `must be at most ${MAX_PASSWORD_BYTES} bytes`),
  displayName: z.string().trim().min(1).max(200).optional(),
}).refine((v) => v.password.trim().toLowerCase() !== v.email.toLowerCase(), {
  path: ['password'],
  message: 'must not be the email address',
});

const byEmailQuery = z.strictObject({ email: z.string().min(1).max(320) });

export function userView(user: User) {
  return { id: user.id, email: user.email, displayName: user.displayName, createdAt: user.createdAt.toISOString() };
}

/** Public routes, reached through the gateway. */
export function userRoutes(users: UserService): Router {
  const router = new Router(EXACT_ROUTING);

  router.post('/api/auth/register', async (ctx) => {
    const input = parseBody(ctx, registerBody);
    ctx.status = 201;
    ctx.body = userView(await users.register(input));
  });

  router.get('/api/auth/me', requireUser(), async (ctx) => {
    ctx.body = userView(await users.get(ctx.state.userId as string));
  });

  return router;
}

/** Lookups for the other services (files resolves share grantees by email or id). */
export function internalUserRoutes(users: UserService): Router {
  const router = new Router(EXACT_ROUTING);

  router.get('/internal/users/:id', async (ctx) => {
    // A malformed id names no user: 404, as for any unknown id.
    const id = z.uuid().safeParse(ctx.params.id);
    if (!id.success) throw notFound('user');
    ctx.body = userView(await users.get(id.data));
  });

  router.get('/internal/users', async (ctx) => {
    const { email } = parseQuery(ctx, byEmailQuery);
    ctx.body = userView(await users.getByEmail(email));
  });

  return router;
}
