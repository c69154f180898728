// Shared by CI's guard tests: run ava on the fixtures in ./fixtures for real, and
// .ci/summarize.mjs on what it printed.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
const AVA = join(ROOT, 'node_modules/ava/entrypoints/cli.mjs');
const SUMMARIZE = join(ROOT, '.ci/summarize.mjs');

/** Only what a child needs; nothing of the run's own services leaks into a fixture. */
export function cleanEnv(extra = {}) {
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: process.env.TMPDIR ?? tmpdir() };
  for (const [key, value] of Object.entries(extra)) if (value !== undefined) env[key] = value;
  return env;
}

/** Runs a command; resolves with its exit status and its stdout and stderr interleaved. */
export function run(command, args, { cwd = ROOT, env = cleanEnv() } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ status: status ?? 128, signal, output }));
  });
}

/** ava 7 on some fixture files, as a workspace's `npm test` runs it. */
export function ava(files, env = {}) {
  return run(process.execPath, [AVA, ...files], { cwd: FIXTURES, env: cleanEnv(env) });
}

export function tempDir(t) {
  const dir = mkdtempSync(join(tmpdir(), 'govault-ci-guards-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

let logCount = 0;
export function writeLog(dir, text) {
  const file = join(dir, `log-${++logCount}.log`);
  writeFileSync(file, text);
  return file;
}

/** .ci/summarize.mjs over some logs; `args` as on its command line. */
export async function summarize(args) {
  const result = await run(process.execPath, [SUMMARIZE, ...args]);
  return { ...result, lastLine: result.output.trimEnd().split('\n').at(-1) };
}
