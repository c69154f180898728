import type { Sweep } from '../janitor/janitor.ts';
import type { MultipartService } from './multipart.service.ts';

/**
 * The cleanup job for direct uploads: a multipart session with no activity (create, sign,
 * list, a part received) for `idleSeconds` is aborted in the store and marked aborted.
 * A sweep of the upload service's janitor, which runs it every `everyMs`.
 */
export function multipartAbandonSweep(multipart: MultipartService, idleSeconds: number, everyMs: number): Sweep {
  return {
    name: 'multipart-abandoned',
    everyMs,
    run: () => sweepAbandonedMultipart(multipart, new Date(Date.now() - idleSeconds * 1000)),
  };
}

export function sweepAbandonedMultipart(multipart: MultipartService, idleSince: Date): Promise<number> {
  return multipart.sweepAbandoned(idleSince);
}
