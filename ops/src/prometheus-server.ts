import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@govault/lib';
import { stringify } from 'yaml';

export interface PromResult {
  metric: Record<string, string>;
  value: [number, string];
}

/**
 * A real Prometheus on 127.0.0.1 with a config of our own (written to a temp folder),
 * for tests that scrape a running GoVault; stop() ends it and removes its data.
 */
export class PrometheusServer {
  private constructor(
    readonly url: string,
    private readonly child: ChildProcess,
    private readonly dir: string,
    private readonly output: string[],
  ) {}

  static async start(config: object): Promise<PrometheusServer> {
    const dir = await mkdtemp(join(tmpdir(), 'govault-prometheus-'));
    await writeFile(join(dir, 'prometheus.yml'), stringify(config));
    const port = await freePort();
    const child = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--web.listen-address=127.0.0.1:${port}`, `--storage.tsdb.path=${join(dir, 'data')}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    child.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    const server = new PrometheusServer(`http://127.0.0.1:${port}`, child, dir, output);
    await server.until(async () => (await fetch(`${server.url}/-/ready`)).ok, 'Prometheus ready');
    return server;
  }

  /** The log so far, for an assertion's message. */
  log(): string {
    return this.output.join('').slice(-4000);
  }

  async api<T>(path: string, params: Record<string, string> = {}): Promise<T> {
    const response = await fetch(`${this.url}/api/v1/${path}?${new URLSearchParams(params)}`);
    const body = (await response.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`${path} ${JSON.stringify(params)}: ${body.error}`);
    return body.data;
  }

  async query(expr: string): Promise<PromResult[]> {
    return (await this.api<{ result: PromResult[] }>('query', { query: expr })).result;
  }

  /** Polls `check` every 500 ms until it holds (30 s at most). */
  async until(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.child.exitCode !== null) throw new Error(`prometheus exited (${this.child.exitCode}) waiting for ${what}:\n${this.log()}`);
      if (await check().catch(() => false)) return;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${this.log()}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGTERM');
      await exited;
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
