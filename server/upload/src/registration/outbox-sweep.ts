import type { Sweep } from '../janitor/janitor.ts';
import type { UploadService } from '../session/upload.service.ts';

/** The registration retry worker: delivers due outbox entries behind the files circuit breaker. */
export function outboxSweep(uploads: UploadService, everyMs: number): Sweep {
  return { name: 'registration-outbox', everyMs, run: () => uploads.deliverDue() };
}
