import { DashboardBuilder, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { datasourceVariable, labelVariable, timeseries } from './panels.ts';

/** Services: the same health panels for each of gateway, auth, files and upload, chosen by the `service` variable. */
export function servicesDashboard() {
  const only = 'service=~"$service"';
  return new DashboardBuilder('GoVault · Services')
    .uid('govault-services')
    .description('Per service (gateway, auth, files, upload): readiness, request rate, 5xx, latency, event-loop lag, memory, CPU and S3 calls.')
    .tags(['govault'])
    .refresh('30s')
    .time({ from: 'now-6h', to: 'now' })
    .withVariable(datasourceVariable())
    .withVariable(labelVariable('service', 'Service', 'http_requests_total'))
    .withRow(new RowBuilder('Health'))
    .withPanel(
      timeseries({
        title: 'Ready and up',
        description: 'govault_ready: 1 when the instance\'s /readyz checks pass (its database, S3, keys). up: 1 when Prometheus could scrape it. 0 on either is the GoVaultInstanceNotReady alert.',
        unit: 'short',
        min: 0,
        width: 24,
        height: 6,
        queries: [
          { expr: `min by (service, instance) (govault_ready{${only}})`, legend: 'ready {{service}} {{instance}}' },
          { expr: 'min by (job, instance) (up{job=~"govault-$service"})', legend: 'up {{job}} {{instance}}' },
        ],
      }),
    )
    .withRow(new RowBuilder('Requests'))
    .withPanel(
      timeseries({
        title: 'Request rate',
        description: 'Requests per second each service answered (the gateway counts what it forwarded, the services what reached them).',
        unit: 'reqps',
        width: 8,
        queries: [{ expr: `sum by (service) (rate(http_requests_total{${only}}[$__rate_interval]))`, legend: '{{service}}' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Errors (5xx)',
        description: '5xx answers per second by service and status (the gateway answers 502/503 itself when an upstream is down or its breaker is open).',
        unit: 'reqps',
        width: 8,
        queries: [
          { expr: `sum by (service, status) (rate(http_requests_total{${only}, status=~"5.."}[$__rate_interval]))`, legend: '{{service}} {{status}}' },
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: '5xx ratio (5m)',
        description: 'Share of each service\'s answers that were 5xx over 5 minutes (service:govault_http_5xx_ratio:rate5m); the GoVaultHigh5xxRatio alert watches it.',
        unit: 'percentunit',
        min: 0,
        width: 8,
        queries: [{ expr: `service:govault_http_5xx_ratio:rate5m{${only}}`, legend: '{{service}}' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Latency p95',
        description: '95th percentile of the time to answer, per service.',
        unit: 's',
        width: 12,
        queries: [{ expr: `histogram_quantile(0.95, sum by (service, le) (rate(http_request_duration_seconds_bucket{${only}}[$__rate_interval])))`, legend: '{{service}}' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'S3 requests by outcome',
        description: 'S3 calls per second of the upload and files services (S3 mode), by operation and outcome (ok, error).',
        unit: 'reqps',
        width: 12,
        queries: [{ expr: `sum by (service, operation, outcome) (rate(govault_s3_request_duration_seconds_count{${only}}[$__rate_interval]))`, legend: '{{service}} {{operation}} {{outcome}}' }],
      }),
    )
    .withRow(new RowBuilder('Node.js process'))
    .withPanel(
      timeseries({
        title: 'Event-loop lag p99',
        description: '99th percentile of the event-loop delay per instance: how long ready work waited for the one JavaScript thread. Sustained values above ~100 ms mean the process is overloaded.',
        unit: 's',
        width: 6,
        queries: [{ expr: `max by (service, instance) (nodejs_eventloop_lag_p99_seconds{${only}})`, legend: '{{service}} {{instance}}' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Heap used',
        description: 'V8 heap in use per instance (all heap spaces).',
        unit: 'bytes',
        width: 6,
        queries: [{ expr: `sum by (service, instance) (nodejs_heap_size_used_bytes{${only}})`, legend: '{{service}} {{instance}}' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Resident memory (RSS)',
        description: 'Resident set size per instance: the memory the process holds in RAM, heap, buffers and code together.',
        unit: 'bytes',
        width: 6,
        queries: [{ expr: `max by (service, instance) (process_resident_memory_bytes{${only}})`, legend: '{{service}} {{instance}}' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'CPU',
        description: 'CPU time per second per instance (1 = one core fully busy).',
        unit: 'percentunit',
        width: 6,
        queries: [{ expr: `sum by (service, instance) (rate(process_cpu_seconds_total{${only}}[$__rate_interval]))`, legend: '{{service}} {{instance}}' }],
      }),
    );
}
