import test from 'ava';
import { promtool, promtoolVersion, type PromtoolRun } from '../src/promtool.ts';
import { REPO_ROOT, prometheusFiles } from '../src/paths.ts';

/**
 * The Prometheus files checked by Prometheus's own tool, as CI and an operator run it:
 * config syntax (with the rule files it loads), rule syntax, and the rules' unit tests.
 */
const version = await promtoolVersion(REPO_ROOT);
const ruleFiles = prometheusFiles('rules', '.yml');
const unitTests = prometheusFiles('tests', '.test.yml');

function succeeded(t: { is(a: unknown, b: unknown, message?: string): void }, run: PromtoolRun): void {
  t.is(run.exitCode, 0, `\`${run.command}\` exited with ${run.exitCode}:\n${run.output}`);
}

if (version) {
  for (const config of ['prometheus/prometheus.yml', 'prometheus/prometheus.local.yml']) {
    test(`promtool check config accepts ${config} and every rule file it loads`, async (t) => {
      const run = await promtool(['check', 'config', config], REPO_ROOT);
      succeeded(t, run);
      // A rule_files glob that matches nothing is valid config: make sure it found them all.
      t.true(run.output.includes(`SUCCESS: ${ruleFiles.length} rule files found`), `expected ${ruleFiles.length} rule files in:\n${run.output}`);
    });
  }

  test('promtool check rules accepts every rule file', async (t) => {
    t.true(ruleFiles.length >= 2, `rule files: ${ruleFiles.join(', ')}`);
    succeeded(t, await promtool(['check', 'rules', ...ruleFiles], REPO_ROOT));
  });

  test('the promtool unit tests of the recording and alert rules pass', async (t) => {
    t.true(unitTests.length >= 2, `unit test files: ${unitTests.join(', ')}`);
    const run = await promtool(['test', 'rules', ...unitTests], REPO_ROOT);
    succeeded(t, run);
    t.is(run.output.match(/SUCCESS/g)?.length, unitTests.length, run.output);
  });
} else if (process.env.GOVAULT_REQUIRE_REAL_SERVICES === '1') {
  test('promtool is on PATH', (t) => {
    t.fail('GOVAULT_REQUIRE_REAL_SERVICES=1 but promtool is not on PATH: install Prometheus (Debian: apt-get install prometheus; .ci/run does it) to check prometheus/');
  });
} else {
  console.warn('ops: promtool checks of prometheus/ not run here (promtool is not on PATH; Debian: apt-get install prometheus)');
}
