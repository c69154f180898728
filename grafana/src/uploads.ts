import { DashboardBuilder, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { datasourceVariable, stat, timeseries } from './panels.ts';

/**
 * Uploads: what users see of GoVault's upload service, tus and direct (S3 multipart)
 * side by side through the `mode` label. The database-wide gauges (active, overdue,
 * backlog) are read by every upload instance alike: `max`, not `sum`.
 */
export function uploadsDashboard() {
  return new DashboardBuilder('GoVault · Uploads')
    .uid('govault-uploads')
    .description('Uploads created, finished, resumed and failed, by mode (tus or direct S3 multipart); bytes, durations, the registration outbox and tus locks.')
    .tags(['govault'])
    .refresh('30s')
    .time({ from: 'now-6h', to: 'now' })
    .withVariable(datasourceVariable())
    .withRow(new RowBuilder('Throughput'))
    .withPanel(
      timeseries({
        title: 'Uploads created / finished / resumed per minute',
        description: 'Per mode: uploads created (tus POST, direct: multipart created), finished (completed; direct: CompleteMultipartUpload succeeded) and resumed (bytes again after an interruption), per minute over 5 minutes (recording rules mode:govault_uploads_*:rate5m).',
        unit: 'opm',
        width: 12,
        queries: [
          { expr: '60 * mode:govault_uploads_created:rate5m', legend: 'created {{mode}}' },
          { expr: '60 * mode:govault_uploads_finished:rate5m', legend: 'finished {{mode}}' },
          { expr: '60 * mode:govault_uploads_resumed:rate5m', legend: 'resumed {{mode}}' },
        ],
      }),
    )
    .withPanel(
      stat({
        title: 'Resume rate (1h)',
        description: 'Share of the uploads created in the last hour that resumed after an interruption, per mode (mode:govault_upload_resume_ratio:rate1h). High values mean flaky client networks; it is what tus is for.',
        unit: 'percentunit',
        queries: [{ expr: 'mode:govault_upload_resume_ratio:rate1h', legend: '{{mode}}' }],
      }),
    )
    .withPanel(
      stat({
        title: 'Success ratio (1h)',
        description: 'Finished / (finished + failed, client aborts not counted) over the last hour, per mode (mode:govault_upload_success_ratio:rate1h).',
        unit: 'percentunit',
        queries: [{ expr: 'mode:govault_upload_success_ratio:rate1h', legend: '{{mode}}' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Failures by reason per minute',
        description: 'Failed upload requests per minute by mode and reason: tus checksum (460), aborted (client cut the PATCH), locked (423), server (5xx); direct parts (complete refused) and storage (S3 error).',
        unit: 'opm',
        queries: [{ expr: 'sum by (mode, reason) (60 * rate(govault_uploads_failed_total[$__rate_interval]))', legend: '{{mode}} {{reason}}' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Bytes received per second',
        description: 'Upload bytes per second by mode over 5 minutes (mode:govault_bytes_received:rate5m): tus PATCH and creation bodies as they arrive; direct: the object\'s size at completion (its bytes go straight to S3).',
        unit: 'Bps',
        queries: [{ expr: 'mode:govault_bytes_received:rate5m', legend: '{{mode}}' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Upload duration p50 / p95 (1h)',
        description: 'Time from creating an upload to completing it, median and 95th percentile over the last hour, per mode (p95: mode:govault_upload_duration_seconds:p95_rate1h).',
        unit: 's',
        queries: [
          { expr: 'histogram_quantile(0.5, sum by (mode, le) (rate(govault_upload_duration_seconds_bucket[1h])))', legend: 'p50 {{mode}}' },
          { expr: 'mode:govault_upload_duration_seconds:p95_rate1h', legend: 'p95 {{mode}}' },
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: 'tus vs direct (share of uploads created, 1h)',
        description: 'Which way the uploads of the last hour came: tus through the upload service, or direct S3 multipart (Uppy\'s AwsS3 plugin on /api/uploads/s3/multipart).',
        unit: 'percentunit',
        stacked: true,
        min: 0,
        queries: [{ expr: 'sum by (mode) (increase(tusd_uploads_created_total[1h])) / ignoring (mode) group_left () sum (increase(tusd_uploads_created_total[1h]))', legend: '{{mode}}' }],
      }),
    )
    .withRow(new RowBuilder('In flight'))
    .withPanel(
      timeseries({
        title: 'Active uploads',
        description: 'Incomplete uploads (created or uploading) in the upload database, by mode. Every upload instance reads the same database, hence max over instances.',
        unit: 'short',
        min: 0,
        width: 8,
        queries: [{ expr: 'max by (mode) (govault_uploads_active)', legend: '{{mode}}' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Overdue and expired uploads',
        description: 'Overdue: incomplete uploads past their expiry that no sweep has removed yet (should stay near 0). Expired: uploads the expiry sweeps removed, per hour, by mode.',
        unit: 'short',
        min: 0,
        width: 8,
        queries: [
          { expr: 'max (govault_uploads_overdue)', legend: 'overdue' },
          { expr: 'sum by (mode) (increase(govault_uploads_expired_total[1h]))', legend: 'expired/h {{mode}}' },
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Terminated uploads per minute',
        description: 'Uploads the client gave up: tus DELETE, direct abort, by mode.',
        unit: 'opm',
        width: 8,
        queries: [{ expr: 'sum by (mode) (60 * rate(tusd_uploads_terminated_total[$__rate_interval]))', legend: '{{mode}}' }],
      }),
    )
    .withRow(new RowBuilder('Registration outbox'))
    .withPanel(
      timeseries({
        title: 'Outbox backlog',
        description: 'Finished uploads not yet registered with the files service (the outbox sweep retries them), and registrations refused for good. Growing backlog: the files service is down or refusing.',
        unit: 'short',
        min: 0,
        width: 8,
        queries: [
          { expr: 'max (govault_registration_outbox_backlog)', legend: 'backlog' },
          { expr: 'max (govault_registration_failed)', legend: 'failed for good' },
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Outbox deliveries per minute',
        description: 'Attempts of the outbox sweep to register a finished upload with the files service, and the failed ones by reason: unreachable (retried later) or refused (for good).',
        unit: 'opm',
        width: 8,
        queries: [
          { expr: 'sum (60 * rate(govault_outbox_delivery_attempts_total[$__rate_interval]))', legend: 'attempts' },
          { expr: 'sum by (reason) (60 * rate(govault_outbox_delivery_failures_total[$__rate_interval]))', legend: 'failed {{reason}}' },
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Upload service breaker to files',
        description: '1 while an upload instance\'s circuit breaker to the files service is open (it registers finished uploads through the outbox meanwhile).',
        unit: 'bool_on_off',
        min: 0,
        width: 8,
        queries: [{ expr: 'max by (instance, upstream) (circuit_breaker_open{job="govault-upload"})', legend: '{{instance}} → {{upstream}}' }],
      }),
    )
    .withRow(new RowBuilder('Locks and storage'))
    .withPanel(
      timeseries({
        title: 'tus lock waits',
        description: 'Requests per minute that waited for another request to release an upload\'s lock (a client retrying while its old PATCH still runs).',
        unit: 'opm',
        width: 8,
        queries: [{ expr: 'sum (60 * rate(govault_tus_lock_waits_total[$__rate_interval]))', legend: 'waits/min' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'tus lock wait p95',
        description: '95th percentile of the time a request waited for an upload\'s lock.',
        unit: 's',
        width: 8,
        queries: [{ expr: 'histogram_quantile(0.95, sum by (le) (rate(govault_tus_lock_wait_seconds_bucket[$__rate_interval])))', legend: 'p95' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'S3 request duration p95 by operation',
        description: 'Every S3 call of the upload and files services (S3 mode), 95th percentile by service and operation (AWS SDK command).',
        unit: 's',
        width: 8,
        queries: [{ expr: 'histogram_quantile(0.95, sum by (service, operation, le) (rate(govault_s3_request_duration_seconds_bucket[$__rate_interval])))', legend: '{{service}} {{operation}}' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Part memory in use',
        description: 'Bytes of PART_MEMORY_MIB holding S3 parts on their way from tus request bodies to S3, per upload instance (S3 mode). At the budget, further parts wait on disk in SPOOL_DIR.',
        unit: 'bytes',
        width: 8,
        queries: [{ expr: 'max by (instance) (govault_upload_part_memory_bytes{job="govault-upload"})', legend: '{{instance}}' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Parts held on disk (share)',
        description: 'Share of the S3 parts received through tus that waited on disk because the part memory budget was spent: above zero for long, PART_MEMORY_MIB is small for the load (disk parts cost about 1 s more CPU per GiB).',
        unit: 'percentunit',
        width: 8,
        queries: [{ expr: 'sum (rate(govault_upload_parts_held_total{medium="disk"}[$__rate_interval])) / clamp_min(sum (rate(govault_upload_parts_held_total[$__rate_interval])), 1e-9)', legend: 'on disk' }],
      }),
    );
}
