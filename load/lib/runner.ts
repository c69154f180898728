import { mkdirSync, writeFileSync } from 'node:fs';
import { setMaxListeners } from 'node:events';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { startCluster, type Cluster } from '../../e2e/cluster.ts';
import { availableModes, type Mode } from '../../e2e/system.ts';
import { renderChart } from './chart.ts';
import { Recorder } from './recorder.ts';
import { evaluate, summaryText, type RunResult } from './report.ts';
import type { RunOptions, Scenario } from './scenario.ts';

/** Real PostgreSQL + S3 when its variables are set (CI sets them), else embedded. */
export function defaultMode(): Mode {
  return availableModes().includes('real') ? 'real' : 'embedded';
}

/**
 * A GoVault of the load tests' own: separate processes (so that chaos can kill one),
 * with the gateway's rate limits raised, since every virtual user comes from 127.0.0.1.
 */
export function startStack(mode: Mode, uploadInstances = 1): Promise<Cluster> {
  return startCluster(mode, {
    uploadInstances,
    env: { RATE_LIMIT_MAX: '1000000', RATE_LIMIT_AUTH_MAX: '1000000', RATE_LIMIT_PREFIX: `govault-load-${process.pid}-${Date.now()}:` },
  });
}

export interface RunTarget {
  baseUrl: string;
  mode: string;
  cluster?: Cluster;
}

export interface RunSettings {
  options: RunOptions;
  /** Folder for <scenario>.json and <scenario>.png; nothing written when undefined. */
  outDir?: string;
  log?: (message: string) => void;
  /** Seconds past the duration for set-up and verification before the hard deadline stops the run. */
  graceS?: number;
}

/** Runs one scenario against `target`, applies its thresholds, writes JSON + PNG. */
export async function runScenario(scenario: Scenario, target: RunTarget, settings: RunSettings): Promise<RunResult> {
  const { options } = settings;
  const log = settings.log ?? ((m: string) => console.log(`[${scenario.name}] ${m}`));
  const recorder = new Recorder();
  const startedAt = new Date().toISOString();
  const controller = new AbortController();
  setMaxListeners(0, controller.signal); // every in-flight request listens
  const deadlineMs = (options.durationS + (settings.graceS ?? (options.short ? 40 : 150))) * 1000;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'deadline'>((resolve) => {
    timer = setTimeout(() => resolve('deadline'), deadlineMs);
  });
  const run = scenario.run({ baseUrl: target.baseUrl, recorder, options, signal: controller.signal, cluster: target.cluster, log }).then(
    () => 'done' as const,
    (err: unknown) => {
      recorder.check('scenario ran to its end', false, err instanceof Error ? (err.stack ?? err.message) : String(err));
      return 'failed' as const;
    },
  );
  const outcome = await Promise.race([run, deadline]);
  clearTimeout(timer);
  if (outcome === 'deadline') {
    controller.abort();
    recorder.check('finished before the hard deadline', false, `stopped after ${deadlineMs / 1000} s`);
    // Give in-flight work a moment to see the abort; then report what was measured.
    await Promise.race([run, new Promise((r) => setTimeout(r, 5_000))]);
  } else {
    recorder.check('finished before the hard deadline', true);
  }

  const durationS = recorder.now() / 1000;
  const thresholds = scenario.thresholds(options).map((t) => evaluate(t, recorder));
  const { total, failed } = recorder.requestCount();
  const bytes = recorder.totalBytes();
  const result: RunResult = {
    scenario: scenario.name,
    description: scenario.description,
    mode: target.mode,
    target: target.cluster ? 'own stack' : target.baseUrl,
    options,
    startedAt,
    durationS,
    passed: thresholds.every((t) => t.passed) && recorder.checkResults().every((c) => c.name !== 'finished before the hard deadline' || c.fails === 0),
    checks: recorder.checkResults(),
    thresholds,
    requests: { total, failed, errorRatio: total === 0 ? 0 : failed / total, perSecond: total / durationS },
    latencyMs: Object.fromEntries(recorder.kinds().map((k) => [k, recorder.stats(k)])),
    uploads: { bytes, mib: bytes / 2 ** 20, mibPerSecond: bytes / 2 ** 20 / durationS },
    counters: recorder.counterValues(),
    errors: recorder.errors,
    timeline: recorder.seconds(),
    environment: {
      node: process.version,
      cpus: cpus().length,
      note: 'loopback only; client and every GoVault process on one machine, which other work shares: numbers are noisy',
    },
  };
  console.log(summaryText(result));
  if (settings.outDir) {
    mkdirSync(settings.outDir, { recursive: true });
    writeFileSync(join(settings.outDir, `${scenario.name}.json`), `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(join(settings.outDir, `${scenario.name}.png`), await renderChart(result));
  }
  return result;
}
