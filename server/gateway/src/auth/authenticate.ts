import jwt from 'jsonwebtoken';
import type { Context, Next } from 'koa';
import { unauthenticated } from '@govault/lib';
import { routeOf } from '../http/route-name.ts';
import { isPublicRoute } from '../proxy/routes.ts';
import type { JwksKeys } from './jwks-keys.ts';

export const ACCESS_TOKEN_ISSUER = 'govault-auth';
export const ACCESS_TOKEN_AUDIENCE = 'govault-api';

const BEARER = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/;

/** Verifies access tokens (ES256, our issuer and audience, typ access) against the auth service's JWKS. */
const MAX_REMEMBERED_TOKENS = 10_000;

export class AccessTokenVerifier {
  /**
   * Tokens already verified, until they expire: a client sends the same token for many
   * requests, and the signature check is the gateway's largest per-request cost. A token
   * stays as valid as it was (access tokens cannot be revoked before they expire anyway).
   */
  private readonly verified = new Map<string, { userId: string; expiresAt: number }>();

  constructor(private readonly keys: JwksKeys) {}

  /** The user id of a valid token; throws 401 otherwise. */
  async verify(token: string): Promise<string> {
    const known = this.verified.get(token);
    if (known && known.expiresAt > Date.now()) return known.userId;
    if (known) this.verified.delete(token);
    const { userId, expiresAt } = await this.verifySignature(token);
    if (this.verified.size >= MAX_REMEMBERED_TOKENS) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(token, { userId, expiresAt });
    return userId;
  }

  private async verifySignature(token: string): Promise<{ userId: string; expiresAt: number }> {
    const decoded = jwt.decode(token, { complete: true });
    const kid = decoded?.header.kid;
    if (!decoded || decoded.header.alg !== 'ES256' || typeof kid !== 'string') throw unauthenticated('Invalid access token');
    const key = await this.keys.get(kid);
    if (!key) throw unauthenticated('Invalid access token');
    try {
      const claims = jwt.verify(token, key, {
        algorithms: ['ES256'],
        issuer: ACCESS_TOKEN_ISSUER,
        audience: ACCESS_TOKEN_AUDIENCE,
      }) as jwt.JwtPayload;
      if (claims.typ !== 'access' || typeof claims.sub !== 'string' || !claims.sub || typeof claims.exp !== 'number') {
        throw new Error('not an access token');
      }
      return { userId: claims.sub, expiresAt: claims.exp * 1000 };
    } catch {
      throw unauthenticated('Invalid or expired access token');
    }
  }

  /**
   * The request's user, verified once per request: the rate limiter (which runs first)
   * and authenticate() share the result.
   */
  userOf(ctx: Context): Promise<string> {
    ctx.state.identity ??= this.identify(ctx);
    return ctx.state.identity as Promise<string>;
  }

  private async identify(ctx: Context): Promise<string> {
    const match = BEARER.exec(ctx.get('authorization'));
    if (!match) throw unauthenticated('A valid Bearer access token is required');
    return this.verify(match[1]!);
  }
}

/**
 * Requires a valid access token on every non-public route and sets ctx.state.userId.
 * Public routes pass without a token; a token they carry anyway is ignored.
 */
export function authenticate(verifier: AccessTokenVerifier) {
  return async (ctx: Context, next: Next) => {
    if (isPublicRoute(routeOf(ctx), ctx.method)) return next();
    ctx.state.userId = await verifier.userOf(ctx);
    await next();
  };
}
