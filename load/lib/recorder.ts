/**
 * What one scenario run measured: every request's latency by kind, checks (named
 * yes/no assertions, as k6's), uploaded bytes, and the active virtual users, with
 * per-second buckets for the chart.
 */
export interface Sample {
  /** Milliseconds since the run started. */
  at: number;
  kind: string;
  ms: number;
  ok: boolean;
}

export interface Stats {
  count: number;
  avg: number;
  min: number;
  med: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
}

export interface SecondBucket {
  second: number;
  requests: number;
  errors: number;
  p95Ms: number;
  mib: number;
  vus: number;
}

export class Recorder {
  private startedAt = Date.now();
  private readonly samples: Sample[] = [];
  private readonly checks = new Map<string, { passes: number; fails: number }>();
  private readonly bytes: Array<{ at: number; bytes: number }> = [];
  private readonly vuLevels: Array<{ at: number; vus: number }> = [];
  private readonly counters = new Map<string, number>();
  readonly errors: string[] = [];
  private vus = 0;

  /** Starts the clock again: set-up before it is not part of the run's timeline. */
  begin(): void {
    this.startedAt = Date.now();
  }

  now(): number {
    return Date.now() - this.startedAt;
  }

  /** Times `work`; a throw or a result `ok` says false counts as a failed request. */
  async time<T>(kind: string, work: () => Promise<T>, ok: (result: T) => boolean = () => true): Promise<T> {
    const started = performance.now();
    try {
      const result = await work();
      this.request(kind, performance.now() - started, ok(result));
      return result;
    } catch (err) {
      this.request(kind, performance.now() - started, false);
      throw err;
    }
  }

  request(kind: string, ms: number, ok: boolean): void {
    this.samples.push({ at: this.now(), kind, ms, ok });
  }

  check(name: string, passed: boolean, detail?: string): boolean {
    const entry = this.checks.get(name) ?? { passes: 0, fails: 0 };
    if (passed) entry.passes++;
    else {
      entry.fails++;
      if (detail) this.error(`${name}: ${detail}`);
    }
    this.checks.set(name, entry);
    return passed;
  }

  /** Bytes that reached the server (upload throughput). */
  sent(bytes: number): void {
    this.bytes.push({ at: this.now(), bytes });
  }

  count(name: string, by = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + by);
  }

  counter(name: string): number {
    return this.counters.get(name) ?? 0;
  }

  error(message: string): void {
    if (this.errors.length < 200) this.errors.push(`${(this.now() / 1000).toFixed(1)}s ${message}`);
  }

  vuStarted(): void {
    this.vus++;
    this.vuLevels.push({ at: this.now(), vus: this.vus });
  }

  vuStopped(): void {
    this.vus--;
    this.vuLevels.push({ at: this.now(), vus: this.vus });
  }

  get activeVus(): number {
    return this.vus;
  }

  kinds(): string[] {
    return [...new Set(this.samples.map((s) => s.kind))].sort();
  }

  stats(kind?: string): Stats {
    return stats(this.samples.filter((s) => kind === undefined || s.kind === kind).map((s) => s.ms));
  }

  requestCount(kind?: string): { total: number; failed: number } {
    const chosen = this.samples.filter((s) => kind === undefined || s.kind === kind);
    return { total: chosen.length, failed: chosen.filter((s) => !s.ok).length };
  }

  checkResults(): Array<{ name: string; passes: number; fails: number }> {
    return [...this.checks].map(([name, c]) => ({ name, ...c }));
  }

  totalBytes(): number {
    return this.bytes.reduce((sum, b) => sum + b.bytes, 0);
  }

  counterValues(): Record<string, number> {
    return Object.fromEntries(this.counters);
  }

  /** One bucket per second of the run, for the chart. */
  seconds(): SecondBucket[] {
    const last = Math.max(0, Math.ceil(this.now() / 1000));
    const buckets: SecondBucket[] = [];
    let vuIndex = 0;
    let vus = 0;
    for (let second = 0; second < last; second++) {
      const end = (second + 1) * 1000;
      const inSecond = this.samples.filter((s) => s.at >= second * 1000 && s.at < end);
      while (vuIndex < this.vuLevels.length && this.vuLevels[vuIndex]!.at < end) vus = this.vuLevels[vuIndex++]!.vus;
      buckets.push({
        second,
        requests: inSecond.length,
        errors: inSecond.filter((s) => !s.ok).length,
        p95Ms: round(stats(inSecond.map((s) => s.ms)).p95),
        mib: round(this.bytes.filter((b) => b.at >= second * 1000 && b.at < end).reduce((sum, b) => sum + b.bytes, 0) / 2 ** 20),
        vus,
      });
    }
    return buckets;
  }
}

export function stats(values: number[]): Stats {
  if (values.length === 0) return { count: 0, avg: 0, min: 0, med: 0, p90: 0, p95: 0, p99: 0, max: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  // Nearest-rank percentile, as k6 reports with its default trend stats.
  const pick = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
  return {
    count: sorted.length,
    avg: round(sorted.reduce((a, b) => a + b, 0) / sorted.length),
    min: round(sorted[0]!),
    med: round(pick(50)),
    p90: round(pick(90)),
    p95: round(pick(95)),
    p99: round(pick(99)),
    max: round(sorted[sorted.length - 1]!),
  };
}

const round = (n: number) => Math.round(n * 100) / 100;
