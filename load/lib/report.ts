import type { Recorder, SecondBucket, Stats } from './recorder.ts';
import type { RunOptions, Threshold } from './scenario.ts';

export interface ThresholdResult {
  /** k6's spelling, e.g. `req_duration{kind:list} p(95)<300`. */
  name: string;
  actual: number;
  passed: boolean;
}

/** The shape of load/results/<scenario>.json. */
export interface RunResult {
  scenario: string;
  description: string;
  mode: string;
  target: string;
  options: RunOptions;
  startedAt: string;
  durationS: number;
  passed: boolean;
  checks: Array<{ name: string; passes: number; fails: number }>;
  thresholds: ThresholdResult[];
  requests: { total: number; failed: number; errorRatio: number; perSecond: number };
  latencyMs: Record<string, Stats>;
  uploads: { bytes: number; mib: number; mibPerSecond: number };
  counters: Record<string, number>;
  errors: string[];
  timeline: SecondBucket[];
  environment: { node: string; cpus: number; note: string };
}

export function evaluate(threshold: Threshold, recorder: Recorder): ThresholdResult {
  switch (threshold.type) {
    case 'latency': {
      const actual = recorder.stats(threshold.kind)[threshold.stat];
      const ran = recorder.requestCount(threshold.kind).total > 0;
      return { name: `req_duration{kind:${threshold.kind}} p(${threshold.stat.slice(1)})<${threshold.maxMs}`, actual, passed: ran && actual < threshold.maxMs };
    }
    case 'error_ratio': {
      const { total, failed } = recorder.requestCount(threshold.kind);
      const actual = total === 0 ? 1 : failed / total;
      return { name: `req_failed${threshold.kind ? `{kind:${threshold.kind}}` : ''} rate<=${threshold.max}`, actual: round(actual), passed: total > 0 && actual <= threshold.max };
    }
    case 'checks': {
      const chosen = recorder.checkResults().filter((c) => threshold.name === undefined || c.name === threshold.name);
      const passes = chosen.reduce((n, c) => n + c.passes, 0);
      const fails = chosen.reduce((n, c) => n + c.fails, 0);
      const actual = passes + fails === 0 ? 0 : passes / (passes + fails);
      return { name: `checks${threshold.name ? `{${threshold.name}}` : ''} rate==1`, actual: round(actual), passed: passes > 0 && fails === 0 };
    }
    case 'counter': {
      const actual = recorder.counter(threshold.name);
      const bounds = [threshold.min === undefined ? '' : `>=${threshold.min}`, threshold.max === undefined ? '' : `<=${threshold.max}`].filter(Boolean).join(' ');
      const passed = (threshold.min === undefined || actual >= threshold.min) && (threshold.max === undefined || actual <= threshold.max);
      return { name: `${threshold.name} ${bounds}`, actual, passed };
    }
  }
}

/** A k6-style end-of-test summary. */
export function summaryText(result: RunResult): string {
  const lines: string[] = [];
  const ms = (n: number) => `${n.toFixed(2)}ms`;
  lines.push('', `  scenario: ${result.scenario} (${result.mode}, ${result.target})`, `  ${result.description}`);
  lines.push(`  vus: ${result.options.vus}, duration: ${result.options.durationS}s${result.options.short ? ' (short)' : ''}, ran ${result.durationS.toFixed(1)}s`, '');
  for (const c of result.checks) {
    const mark = c.fails === 0 ? '✓' : '✗';
    const ratio = c.passes + c.fails === 0 ? 0 : (100 * c.passes) / (c.passes + c.fails);
    lines.push(`     ${mark} ${c.name}`.padEnd(62) + ` ${ratio.toFixed(2)}%  ✓ ${c.passes}  ✗ ${c.fails}`);
  }
  lines.push('', '  THRESHOLDS');
  for (const t of result.thresholds) lines.push(`     ${t.passed ? '✓' : '✗'} ${t.name}`.padEnd(62) + ` actual ${t.actual}`);
  lines.push('', '  METRICS');
  for (const [kind, s] of Object.entries(result.latencyMs)) {
    lines.push(
      `     req_duration{kind:${kind}}`.padEnd(44, '.') +
        `: avg=${ms(s.avg)} min=${ms(s.min)} med=${ms(s.med)} p(90)=${ms(s.p90)} p(95)=${ms(s.p95)} p(99)=${ms(s.p99)} max=${ms(s.max)} count=${s.count}`,
    );
  }
  const r = result.requests;
  lines.push(`     reqs`.padEnd(44, '.') + `: ${r.total}  ${r.perSecond.toFixed(2)}/s`);
  lines.push(`     req_failed`.padEnd(44, '.') + `: ${(100 * r.errorRatio).toFixed(2)}%  ✓ ${r.total - r.failed}  ✗ ${r.failed}`);
  if (result.uploads.bytes > 0) lines.push(`     data_sent`.padEnd(44, '.') + `: ${result.uploads.mib.toFixed(1)} MiB  ${result.uploads.mibPerSecond.toFixed(2)} MiB/s`);
  for (const [name, value] of Object.entries(result.counters)) lines.push(`     ${name}`.padEnd(44, '.') + `: ${value}`);
  if (result.errors.length > 0) {
    lines.push('', `  ERRORS (${result.errors.length}${result.errors.length >= 200 ? '+' : ''}, first 10)`);
    for (const e of result.errors.slice(0, 10)) lines.push(`     ${e}`);
  }
  lines.push('', `  ${result.passed ? '✓ all thresholds passed' : '✗ some thresholds failed'}`, '');
  return lines.join('\n');
}

const round = (n: number) => Math.round(n * 10_000) / 10_000;
