import jwt from 'jsonwebtoken';
import type { Context, Next } from 'koa';
import { unauthenticated } from '@govault/lib';
import { isPublicRoute } from '../proxy/routes.ts';
import type { JwksKeys } from './jwks-keys.ts';

export const ACCESS_TOKEN_ISSUER = 'govault-auth';
export const ACCESS_TOKEN_AUDIENCE = 'govault-api';

/**
 * Verifies `Authorization: Bearer <access token>` against the auth service's keys and
 * sets ctx.state.userId. Public routes pass without a token; a token they carry anyway
 * is ignored.
 */
export function authenticate(keys: JwksKeys) {
  return async (ctx: Context, next: Next) => {
    if (isPublicRoute(ctx.method, ctx.path)) return next();
    const match = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/.exec(ctx.get('authorization'));
    if (!match) throw unauthenticated('A valid Bearer access token is required');
    ctx.state.userId = await verifyAccessToken(match[1]!, keys);
    await next();
  };
}

async function verifyAccessToken(token: string, keys: JwksKeys): Promise<string> {
  const decoded = jwt.decode(token, { complete: true });
  const kid = decoded?.header.kid;
  if (!decoded || decoded.header.alg !== 'ES256' || typeof kid !== 'string') throw unauthenticated('Invalid access token');
  const key = await keys.get(kid);
  if (!key) throw unauthenticated('Invalid access token');
  try {
    const claims = jwt.verify(token, key, {
      algorithms: ['ES256'],
      issuer: ACCESS_TOKEN_ISSUER,
      audience: ACCESS_TOKEN_AUDIENCE,
    }) as jwt.JwtPayload;
    if (claims.typ !== 'access' || typeof claims.sub !== 'string' || !claims.sub) throw new Error('not an access token');
    return claims.sub;
  } catch {
    throw unauthenticated('Invalid or expired access token');
  }
}
