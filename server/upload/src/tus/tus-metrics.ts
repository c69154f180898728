import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** How the bytes came: through tus, or straight to the store (S3 multipart on Companion's routes). */
export type UploadMode = 'tus' | 'direct';
export const UPLOAD_MODES: readonly UploadMode[] = ['tus', 'direct'];
export const TUS_FAILURES = ['checksum', 'aborted', 'locked', 'server'] as const;
/** `parts`: complete refused (missing or mismatched parts); `storage`: the store failed. */
export const DIRECT_FAILURES = ['parts', 'storage'] as const;
export type OutboxFailureReason = 'unreachable' | 'refused';

interface Inc {
  inc(value?: number): void;
}

/** The upload metrics of one mode (their series carry `mode`). */
export interface ModeMetrics<Reason extends string> {
  created: Inc;
  resumed: Inc;
  completed: Inc;
  failed(reason: Reason): void;
  terminated: Inc;
  expired: Inc;
  bytesReceived: Inc;
  duration: { observe(seconds: number): void };
}

/**
 * Upload metrics. Names follow tusd's (`tusd_uploads_created_total`, ...) so that tusd
 * dashboards read them; what tusd has no name for is `govault_*`.
 */
export interface UploadMetrics {
  tus: ModeMetrics<(typeof TUS_FAILURES)[number]>;
  direct: ModeMetrics<(typeof DIRECT_FAILURES)[number]>;
  lockWaits: Counter;
  lockWaitSeconds: Histogram;
  /** Registrations the files service refused for good, by its error code. */
  registrationFailures: Counter<'reason'>;
  /** Every registration attempt of the outbox sweep. */
  outboxAttempts: Counter;
  outboxFailures: Counter<'reason'>;
}

/** Gauges read from the database at scrape time: the operator's view across all instances. */
export interface UploadGaugeSources {
  activeUploads(): Promise<Record<UploadMode, number>>;
  /** Incomplete uploads (either mode) past their expiry that no sweep has removed yet. */
  overdueUploads(): Promise<number>;
  outboxBacklog(): Promise<number>;
  failedRegistrations(): Promise<number>;
}

export function createUploadMetrics(registry: Registry, sources?: UploadGaugeSources): UploadMetrics {
  const byMode = (name: string, help: string) => new Counter({ name, help, labelNames: ['mode'] as const, registers: [registry] });
  if (sources) {
    const active = new Gauge({
      name: 'govault_uploads_active',
      help: 'Incomplete uploads (created or uploading) in the upload database, by mode',
      labelNames: ['mode'] as const,
      registers: [registry],
      async collect() {
        const counts = await sources.activeUploads().catch(() => undefined);
        for (const mode of UPLOAD_MODES) this.set({ mode }, counts ? counts[mode] : Number.NaN);
      },
    });
    for (const mode of UPLOAD_MODES) active.set({ mode }, 0);
    gauge(registry, 'govault_uploads_overdue', 'Incomplete uploads (either mode) past their expiry that the sweeps have not removed yet', sources.overdueUploads);
    gauge(registry, 'govault_registration_outbox_backlog', 'Finished uploads waiting to be registered with the files service', sources.outboxBacklog);
    gauge(registry, 'govault_registration_failed', 'Finished uploads whose registration the files service refused (kept for an operator)', sources.failedRegistrations);
  }
  const created = byMode('tusd_uploads_created_total', 'Uploads created (tus: POST; direct: a multipart upload created)');
  const resumed = byMode('govault_uploads_resumed_total', 'Uploads that received bytes again after an interruption (resume rate = resumed / created)');
  const completed = byMode('tusd_uploads_finished_total', 'Uploads completed (direct: CompleteMultipartUpload succeeded)');
  const failed = new Counter({
    name: 'govault_uploads_failed_total',
    help: 'Upload requests that failed: tus (checksum, aborted, locked, server), direct complete (parts, storage)',
    labelNames: ['mode', 'reason'] as const,
    registers: [registry],
  });
  const terminated = byMode('tusd_uploads_terminated_total', 'Uploads terminated (tus: DELETE; direct: abort)');
  const expired = byMode('govault_uploads_expired_total', 'Incomplete uploads removed by the expiry sweeps');
  const bytesReceived = byMode('tusd_bytes_received_total', 'Bytes received: tus PATCH and creation bodies; direct: the completed object\'s size');
  const duration = new Histogram({
    name: 'govault_upload_duration_seconds',
    help: 'Time from creating an upload to completing it',
    labelNames: ['mode'] as const,
    buckets: [1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600],
    registers: [registry],
  });
  const modeMetrics = <Reason extends string>(mode: UploadMode, reasons: readonly Reason[]): ModeMetrics<Reason> => {
    // Every series exists from the first scrape: dashboards and rates need them before any traffic.
    const counters = [created, resumed, completed, terminated, expired, bytesReceived].map((c) => c.labels({ mode }));
    for (const child of counters) child.inc(0);
    for (const reason of reasons) failed.labels({ mode, reason }).inc(0);
    duration.zero({ mode });
    const [c, r, f, t, e, b] = counters as [Inc, Inc, Inc, Inc, Inc, Inc];
    return {
      created: c,
      resumed: r,
      completed: f,
      terminated: t,
      expired: e,
      bytesReceived: b,
      failed: (reason) => failed.inc({ mode, reason }),
      duration: duration.labels({ mode }),
    };
  };
  const outboxFailures = new Counter({
    name: 'govault_outbox_delivery_failures_total',
    help: 'Failed outbox registration attempts: unreachable (files down, timeout, breaker open; retried later) or refused (for good)',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  for (const reason of ['unreachable', 'refused'] satisfies OutboxFailureReason[]) outboxFailures.labels({ reason }).inc(0);
  return {
    tus: modeMetrics('tus', TUS_FAILURES),
    direct: modeMetrics('direct', DIRECT_FAILURES),
    registrationFailures: new Counter({
      name: 'govault_registration_failures_total',
      help: 'Registrations the files service refused for good (not retried), by its error code',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    outboxAttempts: new Counter({
      name: 'govault_outbox_delivery_attempts_total',
      help: 'Attempts of the outbox sweep to register a finished upload with the files service',
      registers: [registry],
    }),
    outboxFailures,
    lockWaits: new Counter({ name: 'govault_tus_lock_waits_total', help: 'Requests that waited for another request to release an upload lock', registers: [registry] }),
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

/** Where S3 parts wait between a request body and S3: the memory budget in use, and each part by where it was held. */
export function createPartSpoolMetrics(registry: Registry, memoryInUse: () => number): { started(medium: 'memory' | 'disk'): void } {
  new Gauge({
    name: 'govault_upload_part_memory_bytes',
    help: 'Bytes of the part memory budget (PART_MEMORY_MIB) holding S3 parts right now',
    registers: [registry],
    collect() {
      this.set(memoryInUse());
    },
  });
  const parts = new Counter({
    name: 'govault_upload_parts_held_total',
    help: 'S3 parts received through tus, by where they waited for S3: memory (within PART_MEMORY_MIB) or disk (SPOOL_DIR)',
    labelNames: ['medium'] as const,
    registers: [registry],
  });
  for (const medium of ['memory', 'disk'] as const) parts.labels({ medium }).inc(0);
  return { started: (medium) => parts.inc({ medium }) };
}
