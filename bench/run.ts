import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatResults, type BenchResult, type Scenario } from './lib/report.ts';

/**
 * `npm run bench [-- name ...]`: runs every scenario in bench/scenarios (or the named
 * ones) one after another, and writes the numbers, each beside the baseline measured in
 * the same run, to bench/results/latest.{json,md}.
 */
const here = fileURLToPath(new URL('.', import.meta.url));
const wanted = process.argv.slice(2);
const files = readdirSync(join(here, 'scenarios'))
  .filter((f) => f.endsWith('.bench.ts'))
  .sort();

const results: BenchResult[] = [];
for (const file of files) {
  const scenario = (await import(join(here, 'scenarios', file))).default as Scenario;
  if (wanted.length > 0 && !wanted.includes(scenario.name)) continue;
  process.stdout.write(`\n== ${scenario.name}: ${scenario.description}\n`);
  const started = Date.now();
  try {
    const produced = await scenario.run((line) => process.stdout.write(`   ${line}\n`));
    results.push(...produced);
    process.stdout.write(formatResults(produced));
  } catch (err) {
    process.stdout.write(`   FAILED: ${(err as Error).stack}\n`);
    process.exitCode = 1;
  }
  process.stdout.write(`   (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
}

mkdirSync(join(here, 'results'), { recursive: true });
const commit = (() => {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: here }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: here }).toString().trim() !== '';
    return dirty ? `${head} with uncommitted changes` : head;
  } catch {
    return 'unknown';
  }
})();
const meta = { date: new Date().toISOString(), node: process.version, cpus: (await import('node:os')).cpus().length, commit };
writeFileSync(join(here, 'results', 'latest.json'), `${JSON.stringify({ ...meta, results }, null, 2)}\n`);
writeFileSync(join(here, 'results', 'latest.md'), `# Benchmark results\n\n${meta.date}, Node ${meta.node}, ${meta.cpus} cores, commit ${meta.commit}\n\n${formatResults(results, 'markdown')}`);
process.stdout.write(`\nwritten: bench/results/latest.json, bench/results/latest.md\n`);
