import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { serviceNodeArgs } from '@govault/lib';

export interface ProcessSpec {
  name: string;
  entry: string;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

const MAX_BACKOFF_MS = 30_000;
/** A process that stayed up this long was healthy: its next crash starts the backoff over. */
const STABLE_AFTER_MS = 30_000;

/**
 * One supervised child: its output is prefixed with its name, and when it exits
 * unexpectedly it is started again after a backoff that doubles with each quick crash.
 */
export class ManagedProcess {
  private child: ChildProcess | undefined;
  private stopping = false;
  private crashes = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly lineListeners: Array<(line: string) => void> = [];

  constructor(
    private readonly spec: ProcessSpec,
    private readonly log: (message: string) => void,
  ) {}

  get name(): string {
    return this.spec.name;
  }

  onLine(listener: (line: string) => void): void {
    this.lineListeners.push(listener);
  }

  start(): void {
    const startedAt = Date.now();
    const child = spawn(process.execPath, serviceNodeArgs(this.spec.name, this.spec.entry), {
      cwd: this.spec.cwd,
      env: this.spec.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream! }).on('line', (line) => {
        process.stdout.write(`${this.spec.name.padEnd(8)}| ${line}\n`);
        for (const listener of this.lineListeners) listener(line);
      });
    }
    child.once('exit', (code, signal) => {
      this.child = undefined;
      // Ctrl-C reaches the whole process group: a child may exit before the launcher has
      // handled the same signal. Decide a moment later whether this was a crash.
      setTimeout(() => this.afterExit(startedAt, code, signal), 200);
    });
  }

  private afterExit(startedAt: number, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.stopping) return;
    this.crashes = Date.now() - startedAt > STABLE_AFTER_MS ? 1 : this.crashes + 1;
    const delay = Math.min(500 * 2 ** (this.crashes - 1), MAX_BACKOFF_MS);
    this.log(`${this.spec.name} exited unexpectedly (${signal ?? `code ${code}`}); restarting in ${delay} ms`);
    this.restartTimer = setTimeout(() => this.start(), delay);
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}
