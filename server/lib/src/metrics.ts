import type { Context, Next } from 'koa';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface ServiceMetrics {
  registry: Registry;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpDuration: Histogram<'method' | 'route' | 'status'>;
}

export function createMetrics(service: string): ServiceMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  const httpRequests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120],
    registers: [registry],
  });
  return { registry, httpRequests, httpDuration };
}

/**
 * Counts every request by its route pattern (never the raw path: ids would explode the
 * label set). Unmatched paths are counted as "unmatched".
 */
export function httpMetrics(metrics: ServiceMetrics) {
  return async (ctx: Context, next: Next) => {
    const stop = metrics.httpDuration.startTimer();
    ctx.res.once('close', () => {
      const labels = {
        method: ctx.method,
        route: (ctx.state.routeName as string | undefined) ?? ctx._matchedRoute?.toString() ?? 'unmatched',
        status: String(ctx.res.statusCode),
      };
      metrics.httpRequests.inc(labels);
      stop(labels);
    });
    await next();
  };
}
