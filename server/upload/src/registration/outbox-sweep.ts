import type { Sweep } from '../janitor/janitor.ts';
import type { UploadService } from '../session/upload.service.ts';
import type { UploadMetrics } from '../tus/tus-metrics.ts';

/**
 * The registration retry worker: delivers due outbox entries behind the files circuit
 * breaker, counting each attempt, and each failure as `unreachable` (retried later:
 * files down, a timeout, the breaker open) or `refused` (for good).
 */
export function outboxSweep(uploads: UploadService, everyMs: number, metrics: Pick<UploadMetrics, 'outboxAttempts' | 'outboxFailures'>): Sweep {
  return {
    name: 'registration-outbox',
    everyMs,
    run: () =>
      uploads.deliverDue(20, (registration) => {
        metrics.outboxAttempts.inc();
        if (registration.state === 'pending') metrics.outboxFailures.inc({ reason: 'unreachable' });
        else if (registration.state === 'refused') metrics.outboxFailures.inc({ reason: 'refused' });
      }),
  };
}
