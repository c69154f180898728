import type { Context, Next } from 'koa';
import type { Registry } from 'prom-client';

export type ReadinessCheck = () => Promise<void>;

/**
 * /healthz (alive), /readyz (every dependency answers) and /metrics. These are for the
 * operator's network: the gateway never routes them, and they need no token.
 */
export function operationalRoutes(registry: Registry, checks: Record<string, ReadinessCheck>) {
  return async (ctx: Context, next: Next) => {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
    switch (ctx.path) {
      case '/healthz':
        ctx.body = { status: 'ok' };
        return;
      case '/readyz': {
        const results = await Promise.all(
          Object.entries(checks).map(async ([name, check]) => {
            try {
              await withTimeout(check(), 2000);
              return [name, 'ok'] as const;
            } catch (err) {
              return [name, (err as Error).message || 'failed'] as const;
            }
          }),
        );
        const ready = results.every(([, state]) => state === 'ok');
        ctx.status = ready ? 200 : 503;
        ctx.body = { status: ready ? 'ready' : 'not_ready', checks: Object.fromEntries(results) };
        return;
      }
      case '/metrics':
        ctx.type = registry.contentType;
        ctx.body = await registry.metrics();
        return;
      default:
        return next();
    }
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
