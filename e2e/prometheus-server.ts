import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@govault/lib';
import { eventually } from '@govault/lib/testing';
import { ROOT } from './system.ts';

/**
 * A real Prometheus (the Debian package's /usr/bin/prometheus) scraping the processes of
 * a test's cluster every second with the operations contract's job names and evaluating
 * the repository's own rules (prometheus/rules/*.yml) every second, on loopback and a
 * scratch TSDB. Queried through its HTTP API as Grafana queries it.
 */
export const PROMETHEUS_BINARY = process.env.PROMETHEUS_BINARY ?? '/usr/bin/prometheus';

export type ScrapeJobs = Record<string, string[]>;

/** The parts of a prometheus.yml the tests write (rule_files by absolute path). */
export interface PrometheusConfig {
  global?: Record<string, string>;
  rule_files?: string[];
  scrape_configs: object[];
}

/** The repository's rule files Prometheus is given. */
export function repositoryRuleFiles(): string[] {
  const folder = join(ROOT, 'prometheus/rules');
  if (!existsSync(folder)) return [];
  return readdirSync(folder).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => join(folder, f));
}

export interface PromSeries {
  metric: Record<string, string>;
  /** query_range: [unix seconds, "value"] pairs; instant: one pair. */
  values: Array<[number, string]>;
}

export class PrometheusServer {
  private constructor(
    readonly url: string,
    private readonly child: ChildProcess,
    private readonly dir: string,
    readonly output: string[],
    readonly ruleFiles: string[],
  ) {}

  /** `jobs`: job name → the base URLs (http://host:port) whose /metrics it scrapes. */
  static start(jobs: ScrapeJobs): Promise<PrometheusServer> {
    return PrometheusServer.withConfig({
      global: { scrape_interval: '1s', scrape_timeout: '900ms', evaluation_interval: '1s' },
      rule_files: repositoryRuleFiles(),
      scrape_configs: Object.entries(jobs).map(([job, urls]) => ({
        job_name: job,
        metrics_path: '/metrics',
        static_configs: [{ targets: urls.map((u) => new URL(u).host) }],
      })),
    });
  }

  /** A whole Prometheus configuration of the caller's (rule_files by absolute path). */
  static async withConfig(config: PrometheusConfig): Promise<PrometheusServer> {
    if (!existsSync(PROMETHEUS_BINARY)) throw new Error(`${PROMETHEUS_BINARY} is missing: install Prometheus (Debian: apt-get install prometheus) or set PROMETHEUS_BINARY`);
    const dir = mkdtempSync(join(tmpdir(), 'govault-prometheus-'));
    const ruleFiles = config.rule_files ?? [];
    // JSON is YAML.
    writeFileSync(join(dir, 'prometheus.yml'), JSON.stringify(config, null, 2));
    const port = await freePort();
    const child = spawn(PROMETHEUS_BINARY, [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      '--storage.tsdb.retention.time=1h',
      '--log.level=warn',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    for (const stream of [child.stdout!, child.stderr!]) stream.on('data', (chunk: Buffer) => output.push(...chunk.toString().split('\n').filter(Boolean)));
    const server = new PrometheusServer(`http://127.0.0.1:${port}`, child, dir, output, ruleFiles);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const ready = eventually(async () => (await fetch(`${server.url}/-/ready`).catch(() => undefined))?.ok === true, 30_000, 200);
    if (!(await Promise.race([ready, exited.then(() => false)]))) {
      await server.stop();
      throw new Error(`Prometheus did not become ready:\n${output.slice(-20).join('\n')}`);
    }
    return server;
  }

  /** Polls `check` every 500 ms until it holds; fails with the end of Prometheus's log. */
  async until(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
    if (!(await eventually(() => check().catch(() => false), timeoutMs, 500))) {
      throw new Error(`timed out waiting for ${what}:\n${this.output.slice(-20).join('\n')}`);
    }
  }

  /** Every scrape target healthy (up) by job, as /api/v1/targets reports them. */
  async targets(): Promise<Array<{ job: string; url: string; health: string; lastError: string }>> {
    const body = await this.api('/api/v1/targets?state=active');
    return (body.activeTargets as Array<{ labels: { job: string }; scrapeUrl: string; health: string; lastError: string }>).map((t) => ({ job: t.labels.job, url: t.scrapeUrl, health: t.health, lastError: t.lastError }));
  }

  /** A range query, as a Grafana time series panel sends it. */
  async queryRange(expr: string, start: number, end: number, stepSeconds: number): Promise<PromSeries[]> {
    const params = new URLSearchParams({ query: expr, start: String(start), end: String(end), step: String(stepSeconds) });
    const data = await this.api('/api/v1/query_range', params);
    return data.result as PromSeries[];
  }

  /** An instant query at `time` (unix seconds; now by default). */
  async query(expr: string, time?: number): Promise<PromSeries[]> {
    const params = new URLSearchParams({ query: expr, ...(time === undefined ? {} : { time: String(time) }) });
    const data = await this.api('/api/v1/query', params);
    return (data.result as Array<{ metric: Record<string, string>; value: [number, string] }>).map((r) => ({ metric: r.metric, values: [r.value] }));
  }

  /** Values of a label (what Grafana's label_values(metric, label) variable lists). */
  async labelValues(label: string, match: string): Promise<string[]> {
    return (await this.api(`/api/v1/label/${label}/values?${new URLSearchParams({ 'match[]': match })}`)) as string[];
  }

  /** The state of the rule groups Prometheus loaded: every rule evaluated without error. */
  async ruleHealth(): Promise<Array<{ group: string; name: string; health: string; lastError?: string }>> {
    const data = await this.api('/api/v1/rules');
    return (data.groups as Array<{ name: string; rules: Array<{ name: string; health: string; lastError?: string }> }>).flatMap((g) => g.rules.map((r) => ({ group: g.name, name: r.name, health: r.health, lastError: r.lastError })));
  }

  private async api(path: string, form?: URLSearchParams): Promise<any> {
    const response = await fetch(`${this.url}${path}`, form ? { method: 'POST', body: form } : {});
    const body = (await response.json()) as { status: string; data: unknown; error?: string };
    if (body.status !== 'success') throw new Error(`Prometheus ${path} ${form?.get('query') ?? ''}: ${body.error}`);
    return body.data;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGTERM');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
