import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { env } from '@govault/lib';
import { HOST_FORM } from './http/public-origin.ts';

const urlList = z
  .string()
  .default('')
  .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
  .pipe(z.array(z.url()));

/** One upstream: a comma-separated list of instance URLs, at least one. */
const upstreamList = (fallback: string) =>
  z
    .preprocess((v) => (v === '' || v === undefined ? fallback : v), z.string())
    .transform((v) => v.split(',').map((s) => s.trim().replace(/\/+$/, '')).filter(Boolean))
    .pipe(z.array(z.url()).min(1, 'needs at least one URL'));

const count = (fallback: number) => z.coerce.number().int().min(1).default(fallback);

/** PUBLIC_URL: an http(s) origin, nothing after it (every emitted URL appends its own path). */
const publicUrl = env.optionalUrl().pipe(
  z
    .url({ protocol: /^https?$/ })
    .optional()
    .transform((v, ctx) => {
      if (v === undefined) return undefined;
      const url = new URL(v);
      if (url.username || url.password || url.search || url.hash || url.pathname !== '/') {
        ctx.addIssue({ code: 'custom', message: 'must be an origin only, like https://vault.example.com' });
        return z.NEVER;
      }
      return { proto: url.protocol === 'https:' ? ('https' as const) : ('http' as const), host: url.host };
    }),
);

/** PUBLIC_HOSTS: host[:port] values, as a browser sends them in Host. */
const hostList = z.preprocess(
  (v) => (v === '' ? undefined : v),
  z
    .string()
    .optional()
    .transform((v) => v?.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean))
    .pipe(z.array(z.string().regex(HOST_FORM, 'host[:port]')).optional()),
);

/** The edge: where clients reach the gateway, and the operator's port. */
const edgeVariables = {
  /**
   * The origin clients reach the gateway by (https://vault.example.com): the URLs the
   * services emit start with it unless the request's Host is an allowed one. It wins over
   * a trusted proxy's X-Forwarded-Host.
   */
  PUBLIC_URL: publicUrl,
  /** Host values that keep their own origin; default: PUBLIC_URL's host and localhost, 127.0.0.1, [::1] at the gateway's port. */
  PUBLIC_HOSTS: hostList,
  /** /metrics (and /healthz, /readyz) for the operator, on HOST; never on the public port. 0: a free port. */
  GATEWAY_METRICS_PORT: env.port(9080),
};

/** The repository's web/dist, wherever the gateway is started from. */
export const DEFAULT_WEB_APP_DIR = fileURLToPath(new URL('../../../web/dist', import.meta.url));

/** The web app, and the S3 address its Content-Security-Policy must let the browser reach. */
const webAppVariables = {
  /** The built web app (index.html and assets/); default: the repository's web/dist. */
  WEB_APP_DIR: env.optionalString(),
  // S3 mode, as upload and files read them: the browser PUTs parts to and downloads from S3_PUBLIC_ENDPOINT.
  S3_ENDPOINT: env.optionalUrl(),
  S3_PUBLIC_ENDPOINT: env.optionalUrl(),
  S3_BUCKET: env.optionalString(),
  S3_FORCE_PATH_STYLE: env.boolean(true),
};

/** The origin presigned URLs point at: the endpoint's, or the bucket's own host when not path-style. */
function s3BrowserOrigins(v: { S3_ENDPOINT?: string; S3_PUBLIC_ENDPOINT?: string; S3_BUCKET?: string; S3_FORCE_PATH_STYLE: boolean }): string[] {
  const endpoint = v.S3_PUBLIC_ENDPOINT ?? v.S3_ENDPOINT;
  if (!endpoint) return [];
  const url = new URL(endpoint);
  return [!v.S3_FORCE_PATH_STYLE && v.S3_BUCKET ? `${url.protocol}//${v.S3_BUCKET}.${url.host}` : url.origin];
}

export const gatewayConfigSchema = z
  .object({
    GATEWAY_PORT: env.port(8080),
    HOST: env.host(),
    AUTH_URL: upstreamList('http://127.0.0.1:8081'),
    UPLOAD_URL: upstreamList('http://127.0.0.1:8082'),
    FILES_URL: upstreamList('http://127.0.0.1:8083'),
    INTERNAL_KEY_DIR: z.string().min(1),
    CORS_ORIGINS: urlList,
    /**
     * How many proxies (TLS terminators, load balancers) stand in front of the gateway.
     * 0: the client is the TCP peer and every X-Forwarded-* it sends is ignored. N: the
     * client IP is the Nth entry of X-Forwarded-For counted from the right, and
     * X-Forwarded-Proto and X-Forwarded-Host, which the front proxy must set, are believed.
     */
    TRUST_PROXY_HOPS: z.coerce.number().int().min(0).max(10).default(0),
    /**
     * How long a request to upload may wait for an instance that is restarting: a
     * HEAD/GET/OPTIONS, or any request no instance has seen (connection refused). A tus
     * client whose resume HEAD fails starts over from zero, so this covers a restart on a
     * loaded machine (about 1 s idle, several under load) with room to spare.
     */
    UPSTREAM_RETRY_SECONDS: env.seconds(30),
    /** Time to response headers (counted from the end of the request body). */
    UPSTREAM_TIMEOUT_SECONDS: env.seconds(30),
    /** How often an open circuit probes the instance's /healthz (the half-open trial). */
    BREAKER_PROBE_MS: count(1_000),
    /** Failed calls within the breaker window before the share of failures counts. */
    BREAKER_MIN_CALLS: count(3),
    RATE_LIMIT_WINDOW_SECONDS: env.seconds(60),
    /** Requests per window per user (authenticated) or per client IP (anonymous). */
    RATE_LIMIT_MAX: count(1_200),
    /** Requests per window per client IP to register, login and refresh. */
    RATE_LIMIT_AUTH_MAX: count(60),
    /** Redis key prefix; by default one derived from the gateway's key, shared by the gateways of one deployment. */
    RATE_LIMIT_PREFIX: env.optionalString(),
    REDIS_URL: env.optionalUrl(),
    LOG_LEVEL: env.logLevel(),
    ...edgeVariables,
    ...webAppVariables,
    // Slow and greedy clients (connection-limits.ts): each address gets a bounded share.
    /** How long a client may take to send a request's header section (then 408 and close). */
    GATEWAY_HEADERS_TIMEOUT_SECONDS: env.seconds(20),
    /** How long a request body may stay silent between two bytes (an idle timeout, not a total one: a long upload goes on while bytes flow). */
    GATEWAY_BODY_IDLE_TIMEOUT_SECONDS: env.seconds(60),
    /** Open connections per client address; more are closed at once. Not applied behind a proxy (TRUST_PROXY_HOPS > 0), where every connection comes from the proxy. */
    GATEWAY_MAX_CONNECTIONS_PER_IP: count(128),
    /** Proxied requests in progress per client address (ctx.ip); more get 429. */
    GATEWAY_MAX_INFLIGHT_PER_IP: count(64),
    /** Connections to each upstream instance; must exceed GATEWAY_MAX_INFLIGHT_PER_IP so that one address cannot take them all. */
    GATEWAY_UPSTREAM_MAX_SOCKETS: count(512),
  })
  .refine((v) => v.GATEWAY_MAX_INFLIGHT_PER_IP < v.GATEWAY_UPSTREAM_MAX_SOCKETS, {
    path: ['GATEWAY_MAX_INFLIGHT_PER_IP'],
    message: 'must be below GATEWAY_UPSTREAM_MAX_SOCKETS, or one client address can take every upstream connection',
  })
  .transform((v) => ({
    port: v.GATEWAY_PORT,
    host: v.HOST,
    upstreams: { auth: v.AUTH_URL, upload: v.UPLOAD_URL, files: v.FILES_URL },
    internalKeyDir: v.INTERNAL_KEY_DIR,
    corsOrigins: v.CORS_ORIGINS,
    trustProxyHops: v.TRUST_PROXY_HOPS,
    upstreamRetryMs: v.UPSTREAM_RETRY_SECONDS * 1000,
    upstreamTimeoutMs: v.UPSTREAM_TIMEOUT_SECONDS * 1000,
    breaker: { probeIntervalMs: v.BREAKER_PROBE_MS, minCalls: v.BREAKER_MIN_CALLS },
    rateLimit: {
      windowMs: v.RATE_LIMIT_WINDOW_SECONDS * 1000,
      max: v.RATE_LIMIT_MAX,
      authMax: v.RATE_LIMIT_AUTH_MAX,
      prefix: v.RATE_LIMIT_PREFIX,
      redisUrl: v.REDIS_URL,
    },
    logLevel: v.LOG_LEVEL,
    publicUrl: v.PUBLIC_URL,
    publicHosts: v.PUBLIC_HOSTS,
    metricsPort: v.GATEWAY_METRICS_PORT,
    webApp: { dir: resolve(v.WEB_APP_DIR ?? DEFAULT_WEB_APP_DIR), connectOrigins: s3BrowserOrigins(v) },
    clientLimits: {
      headersTimeoutMs: v.GATEWAY_HEADERS_TIMEOUT_SECONDS * 1000,
      bodyIdleTimeoutMs: v.GATEWAY_BODY_IDLE_TIMEOUT_SECONDS * 1000,
      // Behind a proxy every connection is the proxy's: the proxy caps connections per client, the gateway caps requests.
      maxConnectionsPerIp: v.TRUST_PROXY_HOPS > 0 ? Infinity : v.GATEWAY_MAX_CONNECTIONS_PER_IP,
      maxInflightPerIp: v.GATEWAY_MAX_INFLIGHT_PER_IP,
      upstreamMaxSockets: v.GATEWAY_UPSTREAM_MAX_SOCKETS,
    },
  }));

export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;
export type UpstreamName = keyof GatewayConfig['upstreams'];
