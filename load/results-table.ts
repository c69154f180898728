import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { RunResult } from './lib/report.ts';

/** Prints the Markdown table of load/results/*.json (for load/results/README.md). */
const dir = fileURLToPath(new URL('./results/', import.meta.url));
const ms = (n: number | undefined) => (n === undefined ? '–' : n < 10 ? n.toFixed(1) : n.toFixed(0));
console.log('| scenario | mode | VUs | duration | requests | req/s | failed | MiB/s | slowest kind p95 / p99 (ms) | per kind p95 (ms) | uploads (resumed) | files lost / duplicated | thresholds |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const file of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
  const r = JSON.parse(readFileSync(`${dir}${file}`, 'utf8')) as RunResult;
  const kinds = Object.entries(r.latencyMs).filter(([k]) => k !== 'list' || r.scenario === 'api-mix').filter(([k]) => k !== 'download');
  const slowest = kinds.reduce<[string, RunResult['latencyMs'][string]] | undefined>((a, b) => (!a || b[1].p95 > a[1].p95 ? b : a), undefined);
  const perKind = kinds.map(([k, s]) => `${k} ${ms(s.p95)}`).join(', ');
  const lost = r.counters.files_lost === undefined ? '–' : `${r.counters.files_lost} / ${r.counters.files_duplicated}`;
  const passed = r.thresholds.filter((t) => t.passed).length;
  console.log(
    `| ${r.scenario} | ${r.mode} | ${r.options.vus} | ${r.durationS.toFixed(0)} s | ${r.requests.total} | ${r.requests.perSecond.toFixed(1)} | ${r.requests.failed} (${(100 * r.requests.errorRatio).toFixed(2)} %) | ${r.uploads.bytes ? r.uploads.mibPerSecond.toFixed(1) : '–'} | ${slowest ? `${slowest[0]} ${ms(slowest[1].p95)} / ${ms(slowest[1].p99)}` : '–'} | ${perKind} | ${r.counters.uploads_finished === undefined ? '–' : `${r.counters.uploads_finished} (${r.counters.uploads_resumed ?? 0})`} | ${lost} | ${passed}/${r.thresholds.length} ${r.passed ? 'pass' : 'FAIL'} |`,
  );
}
