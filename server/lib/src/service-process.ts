import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { serviceNodeArgs } from './buffer-churn.ts';

/**
 * One GoVault service as a child process that a test controls: start it and wait until
 * it answers `readyPath`, SIGKILL it as a crash would, start it again on the same port.
 */
export class ServiceProcess {
  private child: ChildProcess | undefined;
  readonly output: string[] = [];

  constructor(
    readonly name: string,
    readonly port: number,
    private readonly entry: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly readyPath: string,
    private readonly cwd: string,
    /** Which service this is, for its node flags; the label by default. */
    private readonly service: string = name,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The process id while it runs (benchmarks sample its CPU and memory). */
  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(): Promise<void> {
    const child = spawn(process.execPath, serviceNodeArgs(this.service, this.entry), { cwd: this.cwd, env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        this.output.push(line);
        if (this.output.length > 1000) this.output.shift();
      });
    }
    await this.waitReady();
  }

  /** SIGKILL: no graceful shutdown, as a crash or an OOM kill would be. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.start();
  }

  private async waitReady(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.running) throw new Error(`${this.name} exited while starting:\n${this.output.slice(-30).join('\n')}`);
      const ok = await fetch(`${this.url}${this.readyPath}`, { signal: AbortSignal.timeout(2_000) })
        .then((r) => r.ok)
        .catch(() => false);
      if (ok) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${this.name} not ready within ${timeoutMs} ms:\n${this.output.slice(-30).join('\n')}`);
  }
}
