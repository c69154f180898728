import { Counter, Gauge, type Registry } from 'prom-client';

/**
 * What the gateway adds to the common HTTP metrics: breaker state and transitions, rate
 * limiting, upstream retries. The instance label is `upstream_instance`: Prometheus sets
 * its own `instance` (the scrape target) and would rename ours `exported_instance`.
 */
export interface GatewayMetrics {
  breakerOpen: Gauge<'upstream' | 'upstream_instance'>;
  breakerTransitions: Counter<'upstream' | 'upstream_instance' | 'state'>;
  rateLimited: Counter<'rule'>;
  /** `next_instance`: moved on after an unreachable instance; `wait`: one sleep waiting for a restarting one. */
  upstreamRetries: Counter<'upstream' | 'reason'>;
}

export type UpstreamRetryReason = 'next_instance' | 'wait';

/** `upstreams`: their retry series exist (at 0) from the first scrape. */
export function createGatewayMetrics(registry: Registry, upstreams: readonly string[] = []): GatewayMetrics {
  const metrics: GatewayMetrics = {
    // Same name as the upload service's breaker gauge, plus the instance: one dashboard query for both.
    breakerOpen: new Gauge({
      name: 'circuit_breaker_open',
      help: '1 when the circuit breaker to an upstream instance is open',
      labelNames: ['upstream', 'upstream_instance'] as const,
      registers: [registry],
    }),
    breakerTransitions: new Counter({
      name: 'circuit_breaker_transitions_total',
      help: 'Circuit breaker state changes, by the state entered (open, closed)',
      labelNames: ['upstream', 'upstream_instance', 'state'] as const,
      registers: [registry],
    }),
    rateLimited: new Counter({
      name: 'rate_limited_requests_total',
      help: 'Requests answered 429 by the rate limiter, by rule',
      labelNames: ['rule'] as const,
      registers: [registry],
    }),
    upstreamRetries: new Counter({
      name: 'govault_gateway_upstream_retries_total',
      help: 'Requests sent again: to the next instance after one was unreachable (next_instance), or after waiting for a restarting one (wait, once per wait)',
      labelNames: ['upstream', 'reason'] as const,
      registers: [registry],
    }),
  };
  for (const upstream of upstreams) {
    for (const reason of ['next_instance', 'wait'] satisfies UpstreamRetryReason[]) metrics.upstreamRetries.labels({ upstream, reason }).inc(0);
  }
  return metrics;
}
