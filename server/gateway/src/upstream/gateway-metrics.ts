import { Counter, Gauge, type Registry } from 'prom-client';

/** What the gateway adds to the common HTTP metrics: breaker state and transitions, rate limiting. */
export interface GatewayMetrics {
  breakerOpen: Gauge<'upstream' | 'instance'>;
  breakerTransitions: Counter<'upstream' | 'instance' | 'state'>;
  rateLimited: Counter<'rule'>;
}

export function createGatewayMetrics(registry: Registry): GatewayMetrics {
  return {
    // Same name as the upload service's breaker gauge, plus the instance: one dashboard query for both.
    breakerOpen: new Gauge({
      name: 'circuit_breaker_open',
      help: '1 when the circuit breaker to an upstream instance is open',
      labelNames: ['upstream', 'instance'] as const,
      registers: [registry],
    }),
    breakerTransitions: new Counter({
      name: 'circuit_breaker_transitions_total',
      help: 'Circuit breaker state changes, by the state entered (open, closed)',
      labelNames: ['upstream', 'instance', 'state'] as const,
      registers: [registry],
    }),
    rateLimited: new Counter({
      name: 'rate_limited_requests_total',
      help: 'Requests answered 429 by the rate limiter, by rule',
      labelNames: ['rule'] as const,
      registers: [registry],
    }),
  };
}
