import { DashboardBuilder, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { datasourceVariable, stat, timeseries } from './panels.ts';

/** Gateway: the front door (job govault-gateway, its operator port): traffic, latency, rate limiting, breakers, retries. */
export function gatewayDashboard() {
  return new DashboardBuilder('GoVault · Gateway')
    .uid('govault-gateway')
    .description('Requests through the gateway by route and status, latency, 429s by rule, circuit breakers per upstream instance and upstream retries.')
    .tags(['govault'])
    .refresh('30s')
    .time({ from: 'now-6h', to: 'now' })
    .withVariable(datasourceVariable())
    .withRow(new RowBuilder('Traffic'))
    .withPanel(
      timeseries({
        title: 'Requests by route and status',
        description: 'Requests per second the gateway answered, by route pattern (unknown paths are "unmatched") and HTTP status.',
        unit: 'reqps',
        width: 18,
        queries: [{ expr: 'sum by (route, status) (rate(http_requests_total{service="gateway"}[$__rate_interval]))', legend: '{{route}} {{status}}' }],
      }),
    )
    .withPanel(
      stat({
        title: '5xx ratio (5m)',
        description: 'Share of the gateway\'s answers that were 5xx over 5 minutes (service:govault_http_5xx_ratio:rate5m).',
        unit: 'percentunit',
        height: 8,
        queries: [{ expr: 'service:govault_http_5xx_ratio:rate5m{service="gateway"}', legend: 'gateway' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Latency p50 by route',
        description: 'Median time to answer, by route, as the gateway measured it (streamed bodies included).',
        unit: 's',
        queries: [{ expr: 'histogram_quantile(0.5, sum by (route, le) (rate(http_request_duration_seconds_bucket{service="gateway"}[$__rate_interval])))', legend: '{{route}}' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Latency p99 by route (5m)',
        description: '99th percentile of the time to answer, by route, over 5 minutes (route:govault_gateway_request_duration_seconds:p99_rate5m). Long uploads and downloads sit high by nature.',
        unit: 's',
        queries: [{ expr: 'route:govault_gateway_request_duration_seconds:p99_rate5m', legend: '{{route}}' }],
      }),
    )
    .withRow(new RowBuilder('Protection'))
    .withPanel(
      timeseries({
        title: '429s by rule',
        description: 'Requests per second the rate limiter answered 429, by rule: api (per user or address) and credentials (login, registration).',
        unit: 'reqps',
        width: 8,
        queries: [{ expr: 'sum by (rule) (rate(rate_limited_requests_total{job="govault-gateway"}[$__rate_interval]))', legend: '{{rule}}' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Breaker state per upstream instance',
        description: '1 while the gateway\'s circuit breaker to that upstream instance is open (requests to it are refused at once until a probe succeeds); state changes per minute below.',
        unit: 'short',
        min: 0,
        width: 8,
        queries: [
          { expr: 'max by (upstream, upstream_instance) (circuit_breaker_open{job="govault-gateway"})', legend: 'open {{upstream}} {{upstream_instance}}' },
          { expr: 'sum by (upstream, upstream_instance, state) (increase(circuit_breaker_transitions_total{job="govault-gateway"}[$__rate_interval]))', legend: '→ {{state}} {{upstream}} {{upstream_instance}}' },
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Upstream retries',
        description: 'Requests sent again per second, by upstream and reason: next_instance (moved on after one instance was unreachable), wait (waited for a restarting instance).',
        unit: 'reqps',
        width: 8,
        queries: [{ expr: 'sum by (upstream, reason) (rate(govault_gateway_upstream_retries_total[$__rate_interval]))', legend: '{{upstream}} {{reason}}' }],
      }),
    );
}
