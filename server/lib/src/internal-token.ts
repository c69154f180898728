import jwt from 'jsonwebtoken';
import type { Context, Next } from 'koa';
import { unauthenticated } from './errors.ts';
import { readPrivateKey, readPublicKeys } from './keys.ts';

/**
 * Internal tokens prove that a request comes from another GoVault service: a short-lived
 * ES256 JWT whose subject is the calling service (it signs with its own key) and whose
 * audience is the service called. The gateway also binds the user id into it, so a
 * captured token cannot be replayed for another user.
 */
export interface InternalClaims {
  caller: string;
  userId?: string;
  requestId?: string;
}

const TOKEN_TTL_SECONDS = 60;

/** A token is reused while it has at least this long to live: signing is the costly part. */
const REUSE_UNTIL_SECONDS_LEFT = 30;
const MAX_CACHED_TOKENS = 10_000;

export class InternalTokenIssuer {
  private readonly cache = new Map<string, { token: string; reuseUntil: number }>();

  constructor(
    private readonly service: string,
    private readonly privateKey: string,
  ) {}

  static fromKeyDir(dir: string, service: string): InternalTokenIssuer {
    return new InternalTokenIssuer(service, readPrivateKey(dir, service));
  }

  /**
   * A token for `audience`, acting for `userId`. Tokens without a request id are reused
   * for the same audience and user for half their lifetime, so the gateway signs one per
   * user and service every 30 s instead of one per request.
   */
  issue(audience: string, claims: { userId?: string; requestId?: string } = {}): string {
    if (claims.requestId) return this.sign(audience, claims);
    const key = `${audience}\u0000${claims.userId ?? ''}`;
    const cached = this.cache.get(key);
    if (cached && cached.reuseUntil > Date.now()) return cached.token;
    const token = this.sign(audience, claims);
    if (this.cache.size >= MAX_CACHED_TOKENS) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, { token, reuseUntil: Date.now() + (TOKEN_TTL_SECONDS - REUSE_UNTIL_SECONDS_LEFT) * 1000 });
    return token;
  }

  private sign(audience: string, claims: { userId?: string; requestId?: string }): string {
    const payload: Record<string, string> = {};
    if (claims.userId) payload.uid = claims.userId;
    if (claims.requestId) payload.rid = claims.requestId;
    return jwt.sign(payload, this.privateKey, {
      algorithm: 'ES256',
      keyid: this.service,
      subject: this.service,
      audience,
      issuer: 'govault-internal',
      expiresIn: TOKEN_TTL_SECONDS,
    });
  }
}

export class InternalTokenVerifier {
  /** Signatures already checked, until the token expires: callers reuse their tokens. */
  private readonly verified = new Map<string, { claims: InternalClaims; expiresAt: number }>();

  constructor(
    private readonly service: string,
    private readonly publicKeys: Map<string, string>,
  ) {}

  static fromKeyDir(dir: string, service: string): InternalTokenVerifier {
    return new InternalTokenVerifier(service, readPublicKeys(dir));
  }

  /** Throws 401 for anything but a valid token addressed to this service by an allowed caller. */
  verify(token: string, allowedCallers: readonly string[]): InternalClaims {
    const known = this.verified.get(token);
    if (known && known.expiresAt > Date.now()) {
      // Which callers a route allows differs per route: check it on every use.
      if (!allowedCallers.includes(known.claims.caller)) throw unauthenticated('Invalid internal token');
      return known.claims;
    }
    const { claims, expiresAt } = this.verifySignature(token, allowedCallers);
    if (this.verified.size >= MAX_CACHED_TOKENS) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(token, { claims, expiresAt });
    return claims;
  }

  private verifySignature(token: string, allowedCallers: readonly string[]): { claims: InternalClaims; expiresAt: number } {
    const decoded = jwt.decode(token, { complete: true });
    const kid = decoded?.header.kid;
    const key = kid ? this.publicKeys.get(kid) : undefined;
    if (!key || !allowedCallers.includes(kid!)) throw unauthenticated('Invalid internal token');
    try {
      const claims = jwt.verify(token, key, {
        algorithms: ['ES256'],
        audience: this.service,
        issuer: 'govault-internal',
        subject: kid,
      }) as jwt.JwtPayload;
      return {
        claims: {
          caller: kid!,
          userId: typeof claims.uid === 'string' ? claims.uid : undefined,
          requestId: typeof claims.rid === 'string' ? claims.rid : undefined,
        },
        expiresAt: (claims.exp ?? 0) * 1000,
      };
    } catch {
      throw unauthenticated('Invalid internal token');
    }
  }
}

/**
 * Rejects (401) any request without a valid internal token from one of `allowedCallers`.
 * The user id comes from the token, never from a header alone: an X-User-Id that does
 * not match the token is refused.
 */
export function requireInternalToken(verifier: InternalTokenVerifier, allowedCallers: readonly string[]) {
  return async (ctx: Context, next: Next) => {
    const token = ctx.get('x-internal-token');
    if (!token) throw unauthenticated('Missing internal token');
    const claims = verifier.verify(token, allowedCallers);
    const headerUser = ctx.get('x-user-id');
    if (headerUser && headerUser !== claims.userId) throw unauthenticated('X-User-Id does not match the internal token');
    ctx.state.caller = claims.caller;
    ctx.state.userId = claims.userId;
    await next();
  };
}

/** For routes that act for a user: the internal token must carry one. */
export function requireUser() {
  return async (ctx: Context, next: Next) => {
    if (!ctx.state.userId) throw unauthenticated();
    await next();
  };
}
