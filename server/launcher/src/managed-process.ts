import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { serviceNodeArgs } from '@govault/lib';

/** How the launcher knows a child is serving: a probe that answers true, or a line it prints. */
export type Readiness = { probe: () => Promise<boolean> } | { line: RegExp };

export interface ProcessSpec {
  name: string;
  entry: string;
  env: NodeJS.ProcessEnv;
  cwd: string;
  readiness: Readiness;
}

const MAX_BACKOFF_MS = 30_000;
const FIRST_BACKOFF_MS = 500;
const PROBE_EVERY_MS = 200;
/** Makes a child stop when the launcher is gone; see the file. */
const EXIT_WITH_LAUNCHER = new URL('./exit-with-launcher.ts', import.meta.url).href;

/** An HTTP readiness probe: `url` answers 2xx within 2 s. */
export const httpProbe = (url: string) => () =>
  fetch(url, { signal: AbortSignal.timeout(2_000) })
    .then((response) => response.ok)
    .catch(() => false);

/**
 * One supervised child. Its output is prefixed with its name. When it exits unexpectedly
 * after it was serving (it crashed, or someone killed it), it is started again at once:
 * clients are waiting to resume, and a process that came up once will come up again.
 * Backoff is only for a child that exits before it is ready (a bad config, a database
 * that is not there): each such exit in a row doubles the wait, up to 30 s.
 */
export class ManagedProcess {
  private child: ChildProcess | undefined;
  private stopping = false;
  private failedStarts = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly lineListeners: Array<(line: string) => void> = [];
  private readyListeners: Array<() => void> = [];
  private serving = false;

  constructor(
    private readonly spec: ProcessSpec,
    private readonly log: (message: string) => void,
  ) {}

  get name(): string {
    return this.spec.name;
  }

  /** The running child's pid, if one is running. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  onLine(listener: (line: string) => void): void {
    this.lineListeners.push(listener);
  }

  /** Resolves the next time the child is ready (now, if it is). */
  whenReady(timeoutMs: number): Promise<void> {
    if (this.serving) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name} did not become ready within ${timeoutMs / 1000} s`)), timeoutMs);
      this.readyListeners.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  start(): void {
    // serviceNodeArgs ends with the entry; the watch on stdin loads (after tsx) just before it.
    const args = serviceNodeArgs(this.spec.name, this.spec.entry);
    const child = spawn(process.execPath, [...args.slice(0, -1), '--import', EXIT_WITH_LAUNCHER, this.spec.entry], {
      cwd: this.spec.cwd,
      env: this.spec.env,
      // stdin: a pipe the launcher never writes to; the child stops when it closes (the launcher died).
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stdin!.on('error', () => undefined);
    this.child = child;
    this.log(`${this.spec.name} started (pid ${child.pid})`);
    const run = { ready: false, exited: false };
    const markReady = () => {
      if (run.ready || run.exited) return;
      run.ready = true;
      this.serving = true;
      this.failedStarts = 0;
      // From here on an exit is a crash of a serving process (restarted at once), and the log says when that began.
      this.log(`${this.spec.name} ready (pid ${child.pid})`);
      const listeners = this.readyListeners;
      this.readyListeners = [];
      for (const listener of listeners) listener();
    };
    const readiness = this.spec.readiness;
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream! }).on('line', (line) => {
        process.stdout.write(`${this.spec.name.padEnd(8)}| ${line}\n`);
        for (const listener of this.lineListeners) listener(line);
        if ('line' in readiness && readiness.line.test(line)) markReady();
      });
    }
    if ('probe' in readiness) void this.probeUntilReady(readiness.probe, run, markReady);
    child.once('exit', (code, signal) => {
      run.exited = true;
      this.serving = false;
      if (this.child === child) this.child = undefined;
      // Ctrl-C reaches the whole process group: a child may exit before the launcher has
      // handled the same signal. Decide a moment later whether this was a crash.
      setTimeout(() => this.afterExit(run.ready, code, signal), 200);
    });
  }

  private async probeUntilReady(probe: () => Promise<boolean>, run: { ready: boolean; exited: boolean }, markReady: () => void): Promise<void> {
    while (!run.ready && !run.exited && !this.stopping) {
      if (await probe()) markReady();
      else await new Promise((resolve) => setTimeout(resolve, PROBE_EVERY_MS));
    }
  }

  private afterExit(wasReady: boolean, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.stopping) return;
    const how = signal ?? `code ${code}`;
    if (wasReady) {
      this.log(`${this.spec.name} exited unexpectedly (${how}); restarting now`);
      this.start();
      return;
    }
    this.failedStarts++;
    const delay = Math.min(FIRST_BACKOFF_MS * 2 ** (this.failedStarts - 1), MAX_BACKOFF_MS);
    this.log(`${this.spec.name} exited before it was ready (${how}, ${this.failedStarts} in a row); restarting in ${delay} ms`);
    this.restartTimer = setTimeout(() => this.start(), delay);
  }

  /**
   * Never start it again. The launcher calls this on every child as soon as it begins to stop:
   * Ctrl-C reaches the whole process group, and a child that exits on it must not be
   * restarted while the launcher is still waiting for the gateway to finish its requests.
   */
  holdRestarts(): void {
    this.stopping = true;
    clearTimeout(this.restartTimer);
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    this.holdRestarts();
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}
