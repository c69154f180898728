import type { Cluster } from '../../e2e/cluster.ts';
import type { Recorder } from './recorder.ts';

/** What a scenario is told: where GoVault is, how hard and how long to push. */
export interface RunOptions {
  /** Peak virtual users (concurrent uploads for the upload scenarios). */
  vus: number;
  /** Seconds of load; the hard deadline is this plus a grace for set-up and verification. */
  durationS: number;
  short: boolean;
}

export interface ScenarioContext {
  baseUrl: string;
  recorder: Recorder;
  options: RunOptions;
  /** Aborted when the hard deadline passes: stop at once. */
  signal: AbortSignal;
  /** Only for scenarios with `stack: 'two-upload-instances'`: the processes to kill. */
  cluster?: Cluster;
  log(message: string): void;
}

/**
 * A pass/fail rule over the run's numbers, named as k6 names them:
 * `latency` p95/p99 of one request kind, `error_ratio` of failed requests (of one kind
 * or all), `checks` every check (or the named one) passed, `counter` a bound on a count.
 */
export type Threshold =
  | { type: 'latency'; kind: string; stat: 'p95' | 'p99'; maxMs: number }
  | { type: 'error_ratio'; kind?: string; max: number }
  | { type: 'checks'; name?: string }
  | { type: 'counter'; name: string; min?: number; max?: number };

export interface Scenario {
  name: string;
  description: string;
  /** Defaults per size; --vus and --duration override. */
  defaults: { short: Omit<RunOptions, 'short'>; full: Omit<RunOptions, 'short'> };
  /** `shared`: any GoVault (its own stack or --url); `two-upload-instances`: always its own cluster. */
  stack: 'shared' | 'two-upload-instances';
  thresholds(options: RunOptions): Threshold[];
  run(context: ScenarioContext): Promise<void>;
}

/** Sleeps `ms`, or less when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Runs `worker` on `concurrency` lanes until `next` returns undefined. */
export async function pool<T>(concurrency: number, next: () => T | undefined, worker: (item: T) => Promise<void>): Promise<void> {
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let item = next(); item !== undefined; item = next()) await worker(item);
    }),
  );
}
