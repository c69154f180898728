import type { Logger } from '@govault/lib';

/** One periodic job: returns how many things it handled (for the log). */
export interface Sweep {
  name: string;
  everyMs: number;
  run(): Promise<number>;
}

/**
 * Runs background sweeps (registration retries, expired uploads, and whatever another
 * upload protocol adds) each on its own interval, never two runs of one sweep at once.
 * Every instance runs them; the sweeps claim their work in the database, so instances
 * share it rather than repeat it.
 */
export class Janitor {
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly running = new Map<string, Promise<unknown>>();

  constructor(
    private readonly sweeps: Sweep[],
    private readonly logger: Logger,
  ) {}

  start(): void {
    for (const sweep of this.sweeps) {
      const timer = setInterval(() => void this.runOnce(sweep), sweep.everyMs);
      timer.unref();
      this.timers.push(timer);
    }
  }

  /** Runs a sweep now unless it is already running; resolves when that run ends. */
  runOnce(sweep: Sweep): Promise<unknown> {
    const current = this.running.get(sweep.name);
    if (current) return current;
    const run = sweep
      .run()
      .then((handled) => {
        if (handled > 0) this.logger.info({ sweep: sweep.name, handled }, 'sweep done');
      })
      .catch((err) => this.logger.warn({ err, sweep: sweep.name }, 'sweep failed'))
      .finally(() => this.running.delete(sweep.name));
    this.running.set(sweep.name, run);
    return run;
  }

  /** Runs the named sweep now (tests, operators); resolves when it is done. */
  run(name: string): Promise<unknown> {
    const sweep = this.sweeps.find((s) => s.name === name);
    if (!sweep) throw new Error(`no sweep named ${name}`);
    return this.runOnce(sweep);
  }

  async stop(): Promise<void> {
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    await Promise.all(this.running.values());
  }
}
