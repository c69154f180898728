import type { Logger } from '@govault/lib';
import type { ObjectStorage } from '../storage/object-storage.ts';
import type { ObjectDeletionRepository } from './object-deletion.repository.ts';

/** How long a claimed deletion is reserved for the instance working on it. */
export const DELETION_LEASE_MS = 60_000;

/**
 * Deletes the objects of permanently deleted files. The row is already gone (and the
 * deletion queued) when this runs; a failed delete stays queued and is retried with
 * backoff: 1 s, 2 s, 4 s ... up to an hour.
 */
export class ObjectReaper {
  constructor(
    private readonly queue: ObjectDeletionRepository,
    private readonly storage: ObjectStorage,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Deletes one object now; on failure it stays queued. Answers whether it is gone. */
  async delete(storageKey: string, attempts = 0): Promise<boolean> {
    try {
      await this.storage.delete(storageKey);
      await this.queue.done(storageKey);
      return true;
    } catch (err) {
      const retryAt = new Date(this.now() + backoffMs(attempts));
      this.logger.warn({ err, storageKey, attempts: attempts + 1, retryAt }, 'object delete failed; will retry');
      await this.queue.failed(storageKey, (err as Error).message || String(err), retryAt);
      return false;
    }
  }

  /** Retries the deletions that are due; answers how many objects are now gone. */
  async retryDue(limit = 100): Promise<number> {
    const due = await this.queue.claimDue(limit, new Date(this.now() + DELETION_LEASE_MS));
    let deleted = 0;
    for (const { storageKey, attempts } of due) {
      if (await this.delete(storageKey, attempts)) deleted++;
    }
    return deleted;
  }
}

export function backoffMs(attempts: number): number {
  return Math.min(3_600_000, 1000 * 2 ** Math.min(attempts, 22));
}
