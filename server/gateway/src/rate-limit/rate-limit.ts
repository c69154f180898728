import type { Context, Next } from 'koa';
import { rateLimited, type Logger } from '@govault/lib';
import type { RateLimitStore } from './rate-limit-store.ts';

export interface RateLimitRule {
  name: string;
  max: number;
  windowMs: number;
}

export interface RateLimitOptions {
  store: RateLimitStore;
  /** Every request: per user when it carries a valid access token, else per client IP. */
  general: RateLimitRule;
  /** Register, login and refresh: stricter, always per client IP. */
  credentials: RateLimitRule;
  /** Whether the request is exactly one of the credential routes (another spelling is not: it reaches no service). */
  isCredentialRequest(ctx: Context): boolean;
  /** The verified user of the request, if any. */
  userOf(ctx: Context): Promise<string | undefined>;
  onLimited(rule: RateLimitRule): void;
  logger: Logger;
}

/**
 * Fixed-window rate limit with the `RateLimit-*` headers of the IETF draft
 * (draft-ietf-httpapi-ratelimit-headers) and a 429 with `Retry-After` past the limit.
 * When the store fails (Redis down) requests pass: the limiter protects the services,
 * it must not become the outage.
 */
export function rateLimit(options: RateLimitOptions) {
  let lastWarning = 0;
  return async (ctx: Context, next: Next) => {
    const credentials = options.isCredentialRequest(ctx);
    const rule = credentials ? options.credentials : options.general;
    const user = credentials ? undefined : await options.userOf(ctx).catch(() => undefined);
    const key = `${rule.name}:${user ? `user:${user}` : `ip:${ctx.ip}`}`;
    let hit;
    try {
      hit = await options.store.hit(key, rule.windowMs);
    } catch (err) {
      if (Date.now() - lastWarning > 10_000) {
        lastWarning = Date.now();
        options.logger.warn({ err }, 'rate-limit store unavailable; letting requests through');
      }
      return next();
    }
    const resetSeconds = Math.max(1, Math.ceil(hit.resetMs / 1000));
    ctx.set('RateLimit-Policy', `${rule.max};w=${rule.windowMs / 1000}`);
    ctx.set('RateLimit-Limit', String(rule.max));
    ctx.set('RateLimit-Remaining', String(Math.max(0, rule.max - hit.count)));
    ctx.set('RateLimit-Reset', String(resetSeconds));
    if (hit.count > rule.max) {
      options.onLimited(rule);
      throw rateLimited(resetSeconds);
    }
    await next();
  };
}
