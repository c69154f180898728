import type { Context, Next } from 'koa';
import { Gauge, type Registry } from 'prom-client';

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
        const { ready, checks: results } = await readiness(checks);
        ctx.status = ready ? 200 : 503;
        ctx.body = { status: ready ? 'ready' : 'not_ready', checks: results };
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

/** Runs every check (each bounded to 2 s): ready when all pass; each check's 'ok' or why it failed. */
export async function readiness(checks: Record<string, ReadinessCheck>): Promise<{ ready: boolean; checks: Record<string, string> }> {
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
  return { ready: results.every(([, state]) => state === 'ok'), checks: Object.fromEntries(results) };
}

/**
 * `govault_ready`: 1 when the /readyz checks pass, 0 when not, run at scrape time. A check
 * that fails or throws gives 0; the scrape itself never fails for it.
 */
export function readyGauge(registry: Registry, checks: Record<string, ReadinessCheck>): Gauge {
  return new Gauge({
    name: 'govault_ready',
    help: '1 when every readiness check (/readyz) passes, 0 when one does not; evaluated at scrape time',
    registers: [registry],
    async collect() {
      this.set(await readiness(checks).then(({ ready }) => (ready ? 1 : 0), () => 0));
    },
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
