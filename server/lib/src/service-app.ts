import Koa from 'koa';
import type { Logger } from 'pino';
import { errorMiddleware } from './errors.ts';
import { operationalRoutes, readyGauge, type ReadinessCheck } from './health.ts';
import { httpMetrics, type ServiceMetrics } from './metrics.ts';
import { accessLog, requestId } from './request-context.ts';

export interface ServiceAppParts {
  logger: Logger;
  metrics: ServiceMetrics;
  readiness: Record<string, ReadinessCheck>;
}

/**
 * The middleware every service starts with: request id, access log, error mapper,
 * metrics, and the operational routes (/healthz, /readyz, /metrics). The service adds
 * its internal-token check and routes after this. The registry gains `govault_ready`,
 * from the same checks as /readyz.
 */
export function createServiceApp(parts: ServiceAppParts): Koa {
  readyGauge(parts.metrics.registry, parts.readiness);
  const app = new Koa({ proxy: false });
  app.silent = true;
  app.use(requestId());
  app.use(accessLog(parts.logger));
  app.use(httpMetrics(parts.metrics));
  app.use(errorMiddleware(parts.logger));
  app.use(operationalRoutes(parts.metrics.registry, parts.readiness));
  return app;
}
