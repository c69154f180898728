#!/usr/bin/env node
// Usage: node .ci/summarize.mjs <logfile> [--test-status N]
//
// Sums the end-of-run summaries that ava 7 prints for every workspace in a
// `npm test` log and prints, as the very last line, exactly:
//
//   tests: N passed, M failed, K skipped
//
// Counting rules (ava 7, lib/reporters/default.js):
//   passed  = "N test(s) passed" lines. ava omits that line when a run has failures,
//             so for such a run the "✔ title" lines of that run are counted instead
//             ("✔ [expected fail]" lines are known failures, not passes).
//   failed  = "N test(s) failed" + "N hook(s) failed" + "N uncaught exception(s)" +
//             "N unhandled rejection(s)" + "N test(s) remained pending after a timeout".
//             A run whose summary shows no failure but that printed file-level errors
//             ("✘ x exited ...", "✘ No tests found in x", internal errors, timeouts)
//             counts one failure per such error.
//   skipped = "N test(s) skipped". Todo tests and known failures are reported on
//             separate "note:" lines but do not change the counts.
//
// Exit status: 0 only if something passed, nothing failed and nothing was skipped
// (CI runs the real-service suites, which may not skip), and --test-status (the exit
// status of the test command, when given) is 0.

import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
let logFile;
let testStatus;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--test-status') testStatus = Number(args[++i]);
  else if (!logFile) logFile = args[i];
  else {
    console.error(`summarize: unexpected argument ${args[i]}`);
    process.exit(2);
  }
}
if (!logFile) {
  console.error('usage: summarize.mjs <logfile> [--test-status N]');
  process.exit(2);
}

let text;
try {
  text = readFileSync(logFile, 'utf8');
} catch (error) {
  console.error(`summarize: cannot read ${logFile}: ${error.message}`);
  text = '';
}

// eslint-disable-next-line no-control-regex
const ansi = /\u001b\[[0-9;?]*[ -/]*[@-~]/g;
const lines = text.replace(ansi, '').split(/\r?\n/);

// Summary lines, anchored to the whole line (ava indents them by two spaces; the
// watch-mode variant "N passed" has no "tests").
const SUMMARY = [
  ['passed', /^\s*(\d+) (?:tests? )?passed\s*$/],
  ['failed', /^\s*(\d+) tests? failed\s*$/],
  ['hooksFailed', /^\s*(\d+) hooks? failed\s*$/],
  ['known', /^\s*(\d+) known failures?\s*$/],
  ['skipped', /^\s*(\d+) (?:tests? )?skipped\s*$/],
  ['todo', /^\s*(\d+) (?:tests? )?todo\s*$/],
  ['uncaught', /^\s*(\d+) uncaught exceptions?\s*$/],
  ['unhandled', /^\s*(\d+) unhandled rejections?\s*$/],
  ['timedOut', /^\s*(\d+) tests? remained pending after a timeout\s*$/],
];
const TICK = /^\s*✔ (?!\[expected fail\])/;
const SKIP = /^\s*- \[skip\] (.*)$/;
const TODO = /^\s*- \[todo\] (.*)$/;
const FILE_ERROR = [
  /^\s*✘ .+ exited (?:due to|with a non-zero exit code)/,
  /^\s*✘ No tests found in /,
  /^\s*✘ Internal error/,
  /^\s*✘ Timed out while running tests/,
  /^\s*✘ Exiting due to process\.exit\(\)/,
  /^\s*✘ Couldn[’']t find any (?:files to test|matching tests)/,
  /^\s*✘ Error in shared worker/,
];

const total = { passed: 0, failed: 0, skipped: 0, todo: 0, known: 0, fileErrors: 0, runs: 0 };
const skippedTitles = [];
const todoTitles = [];
const fileErrorLines = [];

let run = newRun();
function newRun() {
  return { summary: {}, inSummary: false, ticks: 0, fileErrors: 0 };
}
function finishRun() {
  const s = run.summary;
  const n = (key) => s[key] ?? 0;
  if (run.inSummary || run.fileErrors > 0) {
    const summaryFailures = n('failed') + n('hooksFailed') + n('uncaught') + n('unhandled') + n('timedOut');
    const failures = summaryFailures > 0 ? summaryFailures : run.fileErrors;
    const passed = s.passed !== undefined ? s.passed : failures > 0 ? run.ticks : 0;
    total.passed += passed;
    total.failed += failures;
    total.skipped += n('skipped');
    total.todo += n('todo');
    total.known += n('known');
    total.fileErrors += run.fileErrors;
    total.runs += 1;
  }
  run = newRun();
}

for (const line of lines) {
  const hit = SUMMARY.find(([, re]) => re.test(line));
  if (hit) {
    const [key, re] = hit;
    run.summary[key] = (run.summary[key] ?? 0) + Number(re.exec(line)[1]);
    run.inSummary = true;
    continue;
  }
  // A run ends after its summary block, or where npm starts the next workspace's script
  // ("> @govault/auth@0.1.0 test"), which also separates runs that printed no summary.
  if ((run.inSummary && line.trim() !== '') || line.startsWith('> ')) finishRun();
  if (TICK.test(line)) run.ticks += 1;
  let m;
  if ((m = SKIP.exec(line))) skippedTitles.push(m[1].trim());
  if ((m = TODO.exec(line))) todoTitles.push(m[1].trim());
  if (FILE_ERROR.some((re) => re.test(line))) {
    run.fileErrors += 1;
    fileErrorLines.push(line.trim());
  }
}
finishRun();

const problems = [];
if (fileErrorLines.length > 0) {
  console.log(`file-level errors (${fileErrorLines.length}):`);
  for (const line of fileErrorLines) console.log(`  ${line}`);
}
if (total.known > 0) console.log(`note: ${total.known} known failure(s) (test.failing) counted neither as passed nor failed`);
if (total.todo > 0) {
  console.log(`note: ${total.todo} todo test(s):`);
  for (const title of todoTitles) console.log(`  - ${title}`);
}
if (total.skipped > 0) {
  problems.push(`${total.skipped} test(s) skipped; suites may not skip in CI`);
  console.log(`skipped tests (not allowed in CI):`);
  for (const title of skippedTitles) console.log(`  - ${title}`);
}
if (total.failed > 0) problems.push(`${total.failed} failure(s)`);
if (total.passed + total.failed === 0) problems.push('no tests ran (CI must not pass on nothing)');
if (testStatus !== undefined && testStatus !== 0) {
  problems.push(`the test command exited with status ${testStatus}`);
  if (total.failed === 0) problems.push('(no failure was parsed from the log: see the log for the cause, e.g. a type error or a crashed runner)');
}
console.log(`ava runs summarised: ${total.runs}`);
for (const problem of problems) console.log(`FAIL: ${problem}`);
console.log(`tests: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
process.exit(problems.length > 0 ? 1 : 0);
