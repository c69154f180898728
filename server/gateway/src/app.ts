import { createHash } from 'node:crypto';
import helmet from 'koa-helmet';
import Koa from 'koa';
import {
  InternalTokenIssuer,
  createMetrics,
  errorMiddleware,
  httpMetrics,
  notFound,
  operationalRoutes,
  readPublicKeys,
  readyGauge,
  requestId,
  type Logger,
} from '@govault/lib';
import { AccessTokenVerifier, authenticate } from './auth/authenticate.ts';
import { JwksKeys } from './auth/jwks-keys.ts';
import type { GatewayConfig, UpstreamName } from './config.ts';
import { gatewayAccessLog } from './http/access-log.ts';
import { singleHost } from './http/single-host.ts';
import { corsPolicy } from './http/cors.ts';
import { publicOrigin } from './http/public-origin.ts';
import { knownRoutesOnly, routeName, routeOf } from './http/route-name.ts';
import { isCredentialRequest } from './proxy/routes.ts';
import { inflightLimit } from './limits/inflight-limit.ts';
import { StreamingProxy } from './proxy/streaming-proxy.ts';
import { rateLimit } from './rate-limit/rate-limit.ts';
import { MemoryRateLimitStore, type RateLimitStore } from './rate-limit/rate-limit-store.ts';
import { RedisRateLimitStore } from './rate-limit/redis-rate-limit-store.ts';
import { createGatewayMetrics } from './upstream/gateway-metrics.ts';
import { upstreamChecks } from './upstream/readiness.ts';
import { createUpstreamPools } from './upstream/upstream-pool.ts';
import { webAppCsp } from './web/content-security-policy.ts';
import { WebApp } from './web/web-app.ts';

export interface GatewayApp {
  /** The public port: the API, the web app, /healthz and /readyz. */
  app: Koa;
  /** The operator's port (GATEWAY_METRICS_PORT): /metrics, /healthz, /readyz. */
  operatorApp: Koa;
  close(): Promise<void>;
}

/** The composition root of the gateway: the one front door, its middleware in contract order. */
export function buildGatewayApp(config: GatewayConfig, logger: Logger): GatewayApp {
  const issuer = InternalTokenIssuer.fromKeyDir(config.internalKeyDir, 'gateway');
  const metrics = createMetrics('gateway');
  const gatewayMetrics = createGatewayMetrics(metrics.registry, Object.keys(config.upstreams) as UpstreamName[]);
  const pools = createUpstreamPools(config, gatewayMetrics, logger);
  const verifier = new AccessTokenVerifier(new JwksKeys(() => pools.auth.pick()?.url ?? pools.auth.instances[0]?.url, issuer, logger));
  const proxy = new StreamingProxy(
    pools,
    issuer,
    {
      retryMs: config.upstreamRetryMs,
      timeoutMs: config.upstreamTimeoutMs,
      waitFor: ['upload'],
      bodyIdleTimeoutMs: config.clientLimits.bodyIdleTimeoutMs,
      maxSocketsPerInstance: config.clientLimits.upstreamMaxSockets,
      onRetry: (upstream, reason) => gatewayMetrics.upstreamRetries.inc({ upstream, reason }),
    },
    logger,
  );
  const redisStore = config.rateLimit.redisUrl
    ? new RedisRateLimitStore(config.rateLimit.redisUrl, config.rateLimit.prefix ?? defaultPrefix(config.internalKeyDir))
    : undefined;
  const store: RateLimitStore = redisStore ?? new MemoryRateLimitStore();
  const readiness = upstreamChecks(pools);
  if (redisStore) readiness.redis = () => redisStore.ping();
  readyGauge(metrics.registry, readiness);
  const { windowMs } = config.rateLimit;
  const webApp = new WebApp({ dir: config.webApp.dir, csp: webAppCsp({ connectOrigins: config.webApp.connectOrigins }), logger });
  void webApp.load();

  // ctx.ip, ctx.protocol and ctx.host (rate limits, the access log, the X-Forwarded-*
  // the services get) come from the front proxy only when one is configured.
  const app = new Koa({ proxy: config.trustProxyHops > 0, maxIpsCount: config.trustProxyHops });
  app.silent = true;
  app.use(requestId());
  app.use(routeName((method, path) => webApp.routeOf(method, path)));
  app.use(publicOrigin({ publicUrl: config.publicUrl, publicHosts: config.publicHosts, trustProxy: config.trustProxyHops > 0 }));
  app.use(gatewayAccessLog(logger));
  app.use(helmet());
  app.use(corsPolicy(config.corsOrigins));
  app.use(httpMetrics(metrics));
  app.use(errorMiddleware(logger));
  app.use(singleHost());
  app.use(withoutMetrics(operationalRoutes(metrics.registry, readiness)));
  // Before the rate limit: a page load is a handful of requests from memory, and should not spend the API budget.
  app.use(webApp.middleware());
  app.use(
    rateLimit({
      store,
      general: { name: 'api', max: config.rateLimit.max, windowMs },
      credentials: { name: 'credentials', max: config.rateLimit.authMax, windowMs },
      isCredentialRequest: (ctx) => isCredentialRequest(routeOf(ctx), ctx.method),
      userOf: (ctx) => verifier.userOf(ctx),
      onLimited: (rule) => gatewayMetrics.rateLimited.inc({ rule: rule.name }),
      logger,
    }),
  );
  app.use(authenticate(verifier));
  app.use(knownRoutesOnly());
  app.use(inflightLimit(config.clientLimits.maxInflightPerIp));
  app.use(proxy.middleware());

  const operatorApp = new Koa();
  operatorApp.silent = true;
  operatorApp.use(requestId());
  operatorApp.use(errorMiddleware(logger));
  operatorApp.use(operationalRoutes(metrics.registry, readiness));
  operatorApp.use(() => {
    throw notFound('route');
  });

  return {
    app,
    operatorApp,
    close: async () => {
      proxy.close();
      for (const pool of Object.values(pools)) pool.destroy();
      await store.close();
    },
  };
}

/**
 * /metrics names every upstream instance and is megabytes long: it is the operator's,
 * on GATEWAY_METRICS_PORT only. /healthz and /readyz stay here for load balancers.
 */
function withoutMetrics(operational: Koa.Middleware): Koa.Middleware {
  return (ctx, next) => (ctx.path === '/metrics' ? next() : operational(ctx, next));
}

/**
 * Gateways of one deployment share the gateway key pair (the services trust its public
 * key), so a prefix derived from it gives them one budget, and keeps apart deployments
 * that share a Redis.
 */
function defaultPrefix(internalKeyDir: string): string {
  const key = readPublicKeys(internalKeyDir).get('gateway') ?? '';
  return `govault:ratelimit:${createHash('sha256').update(key).digest('hex').slice(0, 12)}:`;
}
