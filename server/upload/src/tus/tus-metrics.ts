import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/**
 * Upload metrics. Names follow tusd's (`tusd_uploads_created_total`, ...) so that tusd
 * dashboards read them; what tusd has no name for is `govault_*`.
 */
export interface UploadMetrics {
  created: Counter;
  resumed: Counter;
  completed: Counter;
  failed: Counter<'reason'>;
  terminated: Counter;
  expired: Counter;
  bytesReceived: Counter;
  duration: Histogram;
  lockWaits: Counter;
  lockWaitSeconds: Histogram;
  /** Registrations the files service refused for good, by its error code. */
  registrationFailures: Counter<'reason'>;
}

/** Gauges read from the database at scrape time: the operator's view across all instances. */
export interface UploadGaugeSources {
  activeUploads(): Promise<number>;
  outboxBacklog(): Promise<number>;
  failedRegistrations(): Promise<number>;
}

export function createUploadMetrics(registry: Registry, sources?: UploadGaugeSources): UploadMetrics {
  const counter = (name: string, help: string) => new Counter({ name, help, registers: [registry] });
  if (sources) {
    gauge(registry, 'govault_uploads_active', 'Incomplete uploads (created or uploading) in the upload database', sources.activeUploads);
    gauge(registry, 'govault_registration_outbox_backlog', 'Finished uploads waiting to be registered with the files service', sources.outboxBacklog);
    gauge(registry, 'govault_registration_failed', 'Finished uploads whose registration the files service refused (kept for an operator)', sources.failedRegistrations);
  }
  return {
    created: counter('tusd_uploads_created_total', 'Uploads created'),
    resumed: counter('govault_uploads_resumed_total', 'Uploads that received bytes again after an interruption (resume rate = resumed / created)'),
    completed: counter('tusd_uploads_finished_total', 'Uploads completed'),
    failed: new Counter({
      name: 'govault_uploads_failed_total',
      help: 'Upload requests carrying bytes that failed (checksum mismatch, storage error, lock timeout, client abort)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    terminated: counter('tusd_uploads_terminated_total', 'Uploads terminated'),
    expired: counter('govault_uploads_expired_total', 'Incomplete uploads removed by the expiry sweep'),
    bytesReceived: counter('tusd_bytes_received_total', 'Bytes received in PATCH and creation-with-upload bodies'),
    duration: new Histogram({
      name: 'govault_upload_duration_seconds',
      help: 'Time from creating an upload to completing it',
      buckets: [1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600],
      registers: [registry],
    }),
    registrationFailures: new Counter({
      name: 'govault_registration_failures_total',
      help: 'Registrations the files service refused for good (not retried), by its error code',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    lockWaits: counter('govault_tus_lock_waits_total', 'Requests that waited for another request to release an upload lock'),
    lockWaitSeconds: new Histogram({
      name: 'govault_tus_lock_wait_seconds',
      help: 'How long requests waited for an upload lock',
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 3, 5, 10, 15],
      registers: [registry],
    }),
  };
}

function gauge(registry: Registry, name: string, help: string, read: () => Promise<number>): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    async collect() {
      this.set(await read().catch(() => Number.NaN));
    },
  });
}
