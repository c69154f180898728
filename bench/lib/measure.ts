import { readFileSync } from 'node:fs';

export interface LatencyStats {
  requests: number;
  seconds: number;
  rps: number;
  p50: number;
  p95: number;
  p99: number;
}

/** Runs `call` `requests` times with `concurrency` in flight; latencies in milliseconds. */
export async function measureLatency(call: () => Promise<void>, requests: number, concurrency: number): Promise<LatencyStats> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < requests) {
      next++;
      const t0 = performance.now();
      await call();
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
  return { requests, seconds, rps: requests / seconds, p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}

/** Resident memory of a process in MiB, from /proc (Linux). */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

/** CPU time (user + system) a process has used so far, in seconds, from /proc (Linux). */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / 100;
}

/** Samples a process's RSS every `intervalMs` until stopped; returns the peak. */
export function sampleRss(pid: number, intervalMs = 100): { stop(): { peakMiB: number; startMiB: number } } {
  const startMiB = rssMiB(pid);
  let peakMiB = startMiB;
  const timer = setInterval(() => {
    try {
      peakMiB = Math.max(peakMiB, rssMiB(pid));
    } catch {
      /* the process is gone */
    }
  }, intervalMs);
  return {
    stop: () => {
      clearInterval(timer);
      return { peakMiB, startMiB };
    },
  };
}

/** The median of the rounds (the upper one of an even count). */
export const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** "rounds <min>–<max>", with `digits` decimals (by default 2 below 10, else none). */
export function spread(values: number[], digits = values[0]! < 10 ? 2 : 0): string {
  return `rounds ${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)}`;
}
