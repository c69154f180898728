import type { Context, Next } from 'koa';
import { rateLimited } from '@govault/lib';

/**
 * At most `max` proxied requests in progress per client address (ctx.ip: behind a proxy,
 * the client it names). A request holds an upstream connection until its answer is
 * complete, so this keeps one address from taking the whole upstream pool with slow
 * requests; the ones over it get 429 with Retry-After.
 */
export function inflightLimit(max: number) {
  const inflight = new Map<string, number>();
  return async (ctx: Context, next: Next) => {
    const key = ctx.ip;
    const count = inflight.get(key) ?? 0;
    if (count >= max) throw rateLimited(1, 'Too many requests in progress from this address');
    inflight.set(key, count + 1);
    try {
      await next();
    } finally {
      const left = inflight.get(key)! - 1;
      if (left === 0) inflight.delete(key);
      else inflight.set(key, left);
    }
  };
}
