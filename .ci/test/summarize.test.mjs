// The summary's guard: a skipped, failed or missing test fails CI. The logs are what
// ava 7 really prints for the fixtures, not hand-written copies.

import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { ava, summarize, tempDir, writeLog } from './helpers.mjs';

const out = {};
before(async () => {
  const names = ['pass', 'skip', 'fail', 'empty'];
  const results = await Promise.all(names.map((name) => ava([`${name}.fixture.mjs`])));
  names.forEach((name, i) => (out[name] = results[i]));
});

test('ava itself: a skip exits 0 (so only the summary can catch it), a failure or an empty file exits 1', () => {
  assert.equal(out.pass.status, 0, out.pass.output);
  assert.equal(out.skip.status, 0, out.skip.output);
  assert.match(out.skip.output, /1 test skipped/);
  assert.equal(out.fail.status, 1, out.fail.output);
  assert.equal(out.empty.status, 1, out.empty.output);
  assert.match(out.empty.output, /No tests found in empty\.fixture\.mjs/);
});

test('passing tests: exit 0 and the counts', async (t) => {
  const dir = tempDir(t);
  const s = await summarize([writeLog(dir, out.pass.output), '--test-status', '0']);
  assert.equal(s.status, 0, s.output);
  assert.equal(s.lastLine, 'tests: 2 passed, 0 failed, 0 skipped');
});

test('a skipped test fails the summary and is named', async (t) => {
  const dir = tempDir(t);
  const s = await summarize([writeLog(dir, out.skip.output), '--test-status', String(out.skip.status)]);
  assert.equal(s.status, 1, s.output);
  assert.equal(s.lastLine, 'tests: 1 passed, 0 failed, 1 skipped');
  assert.match(s.output, /- is skipped on purpose/);
  assert.match(s.output, /FAIL: 1 test\(s\) skipped/);
});

test('a failed test fails the summary (its passing neighbour still counted)', async (t) => {
  const dir = tempDir(t);
  const s = await summarize([writeLog(dir, out.fail.output), '--test-status', String(out.fail.status)]);
  assert.equal(s.status, 1, s.output);
  assert.equal(s.lastLine, 'tests: 1 passed, 1 failed, 0 skipped');
});

test('a file with no tests counts as a failure', async (t) => {
  const dir = tempDir(t);
  const s = await summarize([writeLog(dir, out.empty.output), '--test-status', String(out.empty.status)]);
  assert.equal(s.status, 1, s.output);
  assert.equal(s.lastLine, 'tests: 0 passed, 1 failed, 0 skipped');
  assert.match(s.output, /No tests found in empty\.fixture\.mjs/);
});

test('a clean log fails when its command failed (e.g. a type error before any test)', async (t) => {
  const dir = tempDir(t);
  const s = await summarize([writeLog(dir, out.pass.output), '--test-status', '2']);
  assert.equal(s.status, 1, s.output);
  assert.match(s.output, /FAIL: the test command exited with status 2/);
  assert.equal(s.lastLine, 'tests: 2 passed, 0 failed, 0 skipped');
});

test('two logs: counts are summed, and a skip in the second fails the whole', async (t) => {
  const dir = tempDir(t);
  const first = writeLog(dir, out.pass.output);
  const second = writeLog(dir, out.skip.output);
  const both = await summarize([first, '--test-status', '0', second, '--test-status', '0']);
  assert.equal(both.status, 1, both.output);
  assert.equal(both.lastLine, 'tests: 3 passed, 0 failed, 1 skipped');
  assert.match(both.output, new RegExp(`FAIL: ${second.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: 1 test\\(s\\) skipped`));
  const clean = await summarize([first, '--test-status', '0', first, '--test-status', '0']);
  assert.equal(clean.status, 0, clean.output);
  assert.equal(clean.lastLine, 'tests: 4 passed, 0 failed, 0 skipped');
});

test('two logs: a second pass that ran nothing, or whose log is missing, fails', async (t) => {
  const dir = tempDir(t);
  const first = writeLog(dir, out.pass.output);
  const empty = await summarize([first, '--test-status', '0', writeLog(dir, ''), '--test-status', '0']);
  assert.equal(empty.status, 1, empty.output);
  assert.match(empty.output, /: no tests ran/);
  assert.equal(empty.lastLine, 'tests: 2 passed, 0 failed, 0 skipped');
  const missing = await summarize([first, '--test-status', '0', `${dir}/never-written.log`, '--test-status', '0']);
  assert.equal(missing.status, 1, missing.output);
  assert.match(missing.output, /cannot read .*never-written\.log/);
});

test('a second pass whose command failed fails the whole even when its log looks clean', async (t) => {
  const dir = tempDir(t);
  const log = writeLog(dir, out.pass.output);
  const s = await summarize([log, '--test-status', '0', log, '--test-status', '1']);
  assert.equal(s.status, 1, s.output);
  assert.match(s.output, /the test command exited with status 1/);
});
