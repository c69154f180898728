#!/usr/bin/env node
// Usage: node .ci/summarize.mjs <logfile> [--test-status N] [<logfile> [--test-status N]]...
//
// Sums the end-of-run summaries that ava 7 prints for every workspace in one or more
// test logs (CI: `npm test`, then `npm run test:embedded`; each --test-status belongs to
// the log before it), prints one line per log when there are several, and prints, as the
// very last line, the total over all logs, exactly:
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
// Exit status: 0 only if, in every log, something passed, nothing failed and nothing
// was skipped (CI runs the real-service suites, which may not skip), and every
// --test-status (the exit status of the command that wrote the log) is 0.

import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const logs = []; // { file, status }
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--test-status') {
    const status = Number(args[++i]);
    if (logs.length === 0 || logs.at(-1).status !== undefined || !Number.isInteger(status)) usage(`misplaced or bad --test-status ${args[i] ?? ''}`);
    logs.at(-1).status = status;
  } else if (args[i].startsWith('--')) usage(`unexpected argument ${args[i]}`);
  else logs.push({ file: args[i], status: undefined });
}
if (logs.length === 0) usage();

function usage(problem) {
  if (problem) console.error(`summarize: ${problem}`);
  console.error('usage: summarize.mjs <logfile> [--test-status N] [<logfile> [--test-status N]]...');
  process.exit(2);
}

// eslint-disable-next-line no-control-regex
const ansi = /\u001b\[[0-9;?]*[ -/]*[@-~]/g;

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

/** The counts of one log, and the titles and lines behind them. */
function summarize(text) {
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

  for (const line of text.replace(ansi, '').split(/\r?\n/)) {
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
  return { total, skippedTitles, todoTitles, fileErrorLines };
}

const counts = (t) => `${t.passed} passed, ${t.failed} failed, ${t.skipped} skipped`;
const grand = { passed: 0, failed: 0, skipped: 0, runs: 0 };
const problems = [];
for (const log of logs) {
  // With several logs every message names its log; with one, the output is as it always was.
  const label = logs.length > 1 ? `${log.file}: ` : '';
  let text = '';
  try {
    text = readFileSync(log.file, 'utf8');
  } catch (error) {
    console.error(`summarize: cannot read ${log.file}: ${error.message}`);
  }
  const { total, skippedTitles, todoTitles, fileErrorLines } = summarize(text);
  if (fileErrorLines.length > 0) {
    console.log(`${label}file-level errors (${fileErrorLines.length}):`);
    for (const line of fileErrorLines) console.log(`  ${line}`);
  }
  if (total.known > 0) console.log(`${label}note: ${total.known} known failure(s) (test.failing) counted neither as passed nor failed`);
  if (total.todo > 0) {
    console.log(`${label}note: ${total.todo} todo test(s):`);
    for (const title of todoTitles) console.log(`  - ${title}`);
  }
  if (total.skipped > 0) {
    problems.push(`${label}${total.skipped} test(s) skipped; suites may not skip in CI`);
    console.log(`${label}skipped tests (not allowed in CI):`);
    for (const title of skippedTitles) console.log(`  - ${title}`);
  }
  if (total.failed > 0) problems.push(`${label}${total.failed} failure(s)`);
  // Per log: a second pass that ran nothing must not hide behind the first one's tests.
  if (total.passed + total.failed === 0) problems.push(`${label}no tests ran (CI must not pass on nothing)`);
  if (log.status !== undefined && log.status !== 0) {
    problems.push(`${label}the test command exited with status ${log.status}`);
    if (total.failed === 0) problems.push(`${label}(no failure was parsed from the log: see the log for the cause, e.g. a type error or a crashed runner)`);
  }
  if (logs.length > 1) console.log(`${label}${counts(total)} (${total.runs} ava runs)`);
  for (const key of Object.keys(grand)) grand[key] += total[key];
}
console.log(`ava runs summarised: ${grand.runs}`);
for (const problem of problems) console.log(`FAIL: ${problem}`);
console.log(`tests: ${counts(grand)}`);
process.exit(problems.length > 0 ? 1 : 0);
