import type { DataStore } from '@tus/server';
import type { Logger } from '@govault/lib';
import type { UploadPartRepository } from '../session/upload-part.repository.ts';
import type { UploadSessionRepository } from '../session/upload-session.repository.ts';
import type { Sweep } from './janitor.ts';

/**
 * Incomplete tus uploads older than the expiry period: their multipart upload is aborted
 * (S3) or their file removed (disk), their part rows deleted, and the session marked
 * `expired`, so that its owner gets 410 Gone rather than a mystery 404.
 */
export function tusExpirySweep(deps: {
  sessions: UploadSessionRepository;
  parts: UploadPartRepository;
  datastore: DataStore;
  expirySeconds: number;
  everyMs: number;
  logger: Logger;
  onExpired(): void;
}): Sweep {
  return {
    name: 'tus-expiry',
    everyMs: deps.everyMs,
    async run() {
      const expired = await deps.sessions.findExpired(new Date(Date.now() - deps.expirySeconds * 1000), 100);
      let handled = 0;
      for (const session of expired) {
        // Stop further requests first, then remove the bytes: a PATCH that sneaks in
        // between is refused by tus itself, which counts expiry from the same creation time.
        if (!(await deps.sessions.markExpired(session.id))) continue;
        await deps.datastore.remove(session.storageKey).catch((err: { status_code?: number }) => {
          if (err?.status_code !== 404) deps.logger.warn({ err, uploadId: session.id }, 'expired upload not removed from storage');
        });
        await deps.parts.removeAll(session.id);
        deps.onExpired();
        handled++;
      }
      return handled;
    },
  };
}
