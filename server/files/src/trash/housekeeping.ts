import type { Logger } from '@govault/lib';
import type { FileRepository } from '../file/file.repository.ts';
import type { ObjectReaper } from './object-reaper.ts';

export interface HousekeepingOptions {
  /** Files in the trash longer than this are deleted for good. */
  trashRetentionMs: number;
  /** How often the loop runs; 0 turns it off (tests call runOnce). */
  intervalMs: number;
  batch?: number;
}

/**
 * The background work of the files service: purge the trash past its retention period,
 * then retry object deletions that failed. Safe with several instances (SKIP LOCKED
 * and leases in the queries).
 */
export class Housekeeping {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(
    private readonly files: FileRepository,
    private readonly reaper: ObjectReaper,
    private readonly options: HousekeepingOptions,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    if (this.options.intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => {
      this.running ??= this.runOnce()
        .catch((err) => this.logger.error({ err }, 'housekeeping failed'))
        .finally(() => (this.running = undefined));
    }, this.options.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One round; answers what it did. */
  async runOnce(): Promise<{ purged: number; objectsDeleted: number }> {
    const cutoff = new Date(this.now() - this.options.trashRetentionMs);
    const batch = this.options.batch ?? 500;
    let purged = 0;
    for (;;) {
      const keys = await this.files.purgeTrashedBefore(cutoff, batch);
      purged += keys.length;
      if (keys.length < batch) break;
    }
    const objectsDeleted = await this.reaper.retryDue();
    if (purged > 0 || objectsDeleted > 0) this.logger.info({ purged, objectsDeleted }, 'trash purged');
    return { purged, objectsDeleted };
  }
}
