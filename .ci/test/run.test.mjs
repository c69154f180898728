// .ci/run's own verdict: `bash .ci/run --tests-only` runs the same test step as a full
// run (npm test, npm run test:embedded, summarize over both logs). Here `npm` is a
// stand-in on PATH that runs ava on fixtures for those two commands and refuses any
// other, so what is tested is the script's tee, exit-status and summary handling.

import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { FIXTURES, ROOT, cleanEnv, run, tempDir } from './helpers.mjs';

function fakeNpm(dir) {
  const script = `#!/bin/sh
echo "npm $*" >> "$FAKE_NPM_CALLS"
case "$*" in
  test) fixture=$FIXTURE_TEST ;;
  "run test:embedded") fixture=$FIXTURE_EMBEDDED ;;
  *) echo "fake npm: unexpected 'npm $*'" >&2; exit 127 ;;
esac
# "none": print nothing; "FILE:N": run ava on FILE, then exit N whatever ava said
status=\${fixture#*:}
fixture=\${fixture%%:*}
[ "$fixture" = none ] && exit 0
cd "${FIXTURES}" && "${process.execPath}" "${join(ROOT, 'node_modules/ava/entrypoints/cli.mjs')}" "$fixture"
ava_status=$?
[ "$status" = "$fixture" ] && exit $ava_status
exit "$status"
`;
  writeFileSync(join(dir, 'npm'), script);
  chmodSync(join(dir, 'npm'), 0o755);
}

async function ciTestsOnly(t, realFixture, embeddedFixture) {
  const dir = tempDir(t);
  fakeNpm(dir);
  const calls = join(dir, 'calls');
  const env = cleanEnv({
    PATH: `${dir}:${process.env.PATH}`,
    CI_LOG_DIR: join(dir, 'logs'),
    FAKE_NPM_CALLS: calls,
    FIXTURE_TEST: realFixture,
    FIXTURE_EMBEDDED: embeddedFixture,
  });
  const result = await run('bash', [join(ROOT, '.ci/run'), '--tests-only'], { env });
  return {
    ...result,
    lastLine: result.output.trimEnd().split('\n').at(-1),
    calls: existsSync(calls) ? readFileSync(calls, 'utf8').trim().split('\n') : [],
    logs: ['test.log', 'test-embedded.log'].map((name) => existsSync(join(dir, 'logs', name))),
  };
}

test('both passes clean: exit 0, both logs written, the total of both as the last line', async (t) => {
  const r = await ciTestsOnly(t, 'pass.fixture.mjs', 'pass.fixture.mjs');
  assert.equal(r.status, 0, r.output);
  assert.deepEqual(r.calls, ['npm test', 'npm run test:embedded']);
  assert.deepEqual(r.logs, [true, true]);
  assert.equal(r.lastLine, 'tests: 4 passed, 0 failed, 0 skipped');
});

test('a skipped test in the embedded pass (ava exits 0) makes .ci/run exit non-zero', async (t) => {
  const r = await ciTestsOnly(t, 'pass.fixture.mjs', 'skip.fixture.mjs');
  assert.notEqual(r.status, 0, r.output);
  assert.equal(r.lastLine, 'tests: 3 passed, 0 failed, 1 skipped');
});

test('a failure in npm test fails the run, and the embedded pass still runs and counts', async (t) => {
  const r = await ciTestsOnly(t, 'fail.fixture.mjs', 'pass.fixture.mjs');
  assert.notEqual(r.status, 0, r.output);
  assert.deepEqual(r.calls, ['npm test', 'npm run test:embedded']);
  assert.equal(r.lastLine, 'tests: 3 passed, 1 failed, 0 skipped');
});

test('an embedded pass that runs no test and exits 0 fails the run', async (t) => {
  const r = await ciTestsOnly(t, 'pass.fixture.mjs', 'none');
  assert.notEqual(r.status, 0, r.output);
  assert.match(r.output, /test-embedded\.log: no tests ran/);
  assert.equal(r.lastLine, 'tests: 2 passed, 0 failed, 0 skipped');
});

test('an embedded pass whose command fails after clean tests fails the run with its status', async (t) => {
  const r = await ciTestsOnly(t, 'pass.fixture.mjs', 'pass.fixture.mjs:3');
  assert.equal(r.status, 3, r.output);
  assert.match(r.output, /npm run test:embedded exited with status 3/);
  assert.equal(r.lastLine, 'tests: 4 passed, 0 failed, 0 skipped');
});
