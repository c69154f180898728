import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { Cluster } from '../../e2e/cluster.ts';
import type { RunResult } from '../lib/report.ts';
import { defaultMode, runScenario, startStack } from '../lib/runner.ts';
import type { Scenario } from '../lib/scenario.ts';
import { scenarios } from '../scenarios/index.ts';

/**
 * Every load scenario once, in its short version: api-mix, upload-storm and direct-storm
 * on one shared stack, chaos on its own two-upload-instance cluster. Real PostgreSQL + S3
 * when their variables are set (CI), else embedded. Each must pass its thresholds and
 * leave a well-formed JSON and a real PNG.
 */
const mode = defaultMode();
const outDir = mkdtempSync(join(tmpdir(), 'govault-load-'));
let shared: Promise<Cluster> | undefined;
const sharedStack = () => (shared ??= startStack(mode));

test.after.always(async () => {
  await (await shared?.catch(() => undefined))?.stop();
  rmSync(outDir, { recursive: true, force: true });
});

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

async function runShort(scenario: Scenario): Promise<RunResult> {
  const own = scenario.stack === 'two-upload-instances' ? await startStack(mode, 2) : undefined;
  try {
    const cluster = own ?? (await sharedStack());
    return await runScenario(scenario, { baseUrl: cluster.baseUrl, mode, cluster }, { options: { ...scenario.defaults.short, short: true }, outDir });
  } finally {
    await own?.stop();
  }
}

for (const name of ['api-mix', 'upload-storm', 'direct-storm', 'chaos']) {
  test.serial(`${mode}: ${name} --short passes its thresholds and writes its JSON and PNG`, async (t) => {
    const scenario = scenarios[name]!;
    const result = await runShort(scenario);
    const failed = result.thresholds.filter((th) => !th.passed).map((th) => `${th.name} (actual ${th.actual})`);
    t.deepEqual(failed, [], `thresholds failed; errors: ${result.errors.slice(0, 5).join(' | ')}`);
    t.true(result.passed);
    t.true(result.checks.every((c) => c.fails === 0), JSON.stringify(result.checks));

    const json = JSON.parse(readFileSync(join(outDir, `${name}.json`), 'utf8')) as RunResult;
    t.like(json, { scenario: name, mode, passed: true, options: { short: true } });
    t.true(json.thresholds.length >= 3);
    t.true(json.requests.total > 0 && json.requests.perSecond > 0);
    for (const stats of Object.values(json.latencyMs)) t.true(stats.count > 0 && stats.min <= stats.p95 && stats.p95 <= stats.p99 && stats.p99 <= stats.max);
    t.true(json.timeline.length >= 3, 'a bucket per second');
    t.true(json.timeline.some((b) => b.requests > 0));
    if (name !== 'api-mix') t.true(json.uploads.mibPerSecond > 0 && json.counters.files_lost === 0 && json.counters.files_duplicated === 0);

    const png = readFileSync(join(outDir, `${name}.png`));
    t.deepEqual(png.subarray(0, 8), PNG_SIGNATURE, 'a PNG');
    t.is(png.readUInt32BE(16), 1200, 'width from the IHDR chunk');
    t.is(png.readUInt32BE(20), 600, 'height');
    t.true(png.length > 20_000, `a chart, not a blank image (${png.length} bytes)`);
  });
}
