import helmet from 'koa-helmet';
import Koa from 'koa';
import {
  InternalTokenIssuer,
  accessLog,
  createMetrics,
  errorMiddleware,
  httpMetrics,
  operationalRoutes,
  requestId,
  type Logger,
} from '@govault/lib';
import { authenticate } from './auth/authenticate.ts';
import { JwksKeys } from './auth/jwks-keys.ts';
import type { GatewayConfig } from './config.ts';
import { corsPolicy } from './http/cors.ts';
import { webApp } from './http/web-app.ts';
import { StreamingProxy } from './proxy/streaming-proxy.ts';

export interface GatewayApp {
  app: Koa;
  close(): Promise<void>;
}

/** The composition root of the gateway: the one front door, its middleware in contract order. */
export function buildGatewayApp(config: GatewayConfig, logger: Logger): GatewayApp {
  const issuer = InternalTokenIssuer.fromKeyDir(config.internalKeyDir, 'gateway');
  const metrics = createMetrics('gateway');
  const keys = new JwksKeys(config.upstreams.auth, issuer, logger);
  const proxy = new StreamingProxy(config.upstreams, issuer, config.upstreamRetryMs, logger);

  const app = new Koa({ proxy: false });
  app.silent = true;
  app.use(requestId());
  app.use(accessLog(logger));
  app.use(helmet());
  app.use(corsPolicy(config.corsOrigins));
  app.use(httpMetrics(metrics));
  app.use(errorMiddleware(logger));
  app.use(operationalRoutes(metrics.registry, {}));
  app.use(webApp());
  app.use(authenticate(keys));
  app.use(proxy.middleware());

  return { app, close: async () => proxy.close() };
}
