/** One number, and the baseline it should be read against (measured in the same run). */
export interface BenchResult {
  scenario: string;
  metric: string;
  value: number;
  unit: string;
  baseline?: { name: string; value: number };
  /** value / baseline.value, when a baseline exists. */
  ratio?: number;
  note?: string;
}

export interface Scenario {
  name: string;
  description: string;
  run(log: (line: string) => void): Promise<BenchResult[]>;
}

export function result(
  scenario: string,
  metric: string,
  value: number,
  unit: string,
  baseline?: { name: string; value: number },
  note?: string,
): BenchResult {
  const ratio = baseline && baseline.value !== 0 ? value / baseline.value : undefined;
  return { scenario, metric, value, unit, baseline, ratio, note };
}

const fmt = (n: number) => (Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 10 ? n.toFixed(1) : n.toFixed(2));

export function formatResults(results: BenchResult[], style: 'text' | 'markdown' = 'text'): string {
  const rows = results.map((r) => [
    r.scenario,
    r.metric,
    `${fmt(r.value)} ${r.unit}`,
    r.baseline ? `${r.baseline.name}: ${fmt(r.baseline.value)} ${r.unit}` : '',
    r.ratio !== undefined ? `${r.ratio.toFixed(2)}x` : '',
    r.note ?? '',
  ]);
  if (style === 'markdown') {
    const header = '| scenario | metric | value | baseline (same run) | ratio | note |\n|---|---|---|---|---|---|\n';
    return header + rows.map((r) => `| ${r.join(' | ')} |`).join('\n') + '\n';
  }
  return rows.map((r) => `   ${r.filter(Boolean).join('  ')}`).join('\n') + '\n';
}
