import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const DISPATCHER = join(REPO, 'server/launcher/src/image/main.ts');
export const requireRealServices = process.env.GOVAULT_REQUIRE_REAL_SERVICES === '1';

export interface Finished {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The dispatcher as the container's ENTRYPOINT runs it: `node --import tsx main.ts <word> ...`. */
export function startImage(args: string[], env: NodeJS.ProcessEnv, cwd = REPO, dispatcher = DISPATCHER): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', dispatcher, ...args], { cwd, env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

export function runImage(args: string[], env: NodeJS.ProcessEnv, options: { cwd?: string; dispatcher?: string; timeoutMs?: number } = {}): Promise<Finished> {
  const child = startImage(args, env, options.cwd, options.dispatcher);
  return finished(child, options.timeoutMs ?? 60_000);
}

export function finished(child: ChildProcess, timeoutMs: number): Promise<Finished> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

export const tempDir = (prefix: string) => mkdtempSync(join(tmpdir(), `govault-image-${prefix}-`));

/** The one JSON line a one-shot prints on stdout. */
export const outcomeOf = (run: Finished) => JSON.parse(run.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;

/** versitygw as .ci/run installs it: on PATH or in the Go bin folder. */
export function versitygwBinary(): string | undefined {
  const candidates = [...(process.env.PATH ?? '').split(':').map((dir) => join(dir, 'versitygw')), join(process.env.GOPATH ?? join(homedir(), 'go'), 'bin', 'versitygw')];
  return candidates.find((path) => existsSync(path));
}

export function ensureDir(path: string): string {
  mkdirSync(path, { recursive: true });
  return path;
}
