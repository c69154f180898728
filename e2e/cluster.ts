import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ensureServiceKeys, freePort } from '@govault/lib';
import { ROOT, type Mode } from './system.ts';

/**
 * GoVault as separate processes that a test controls one by one: kill a service with
 * SIGKILL, start it again on the same port, run several instances of one service. For
 * the plain "start it like npm start" case use startSystem() in system.ts.
 */
export type ServiceName = 'auth' | 'files' | 'upload' | 'gateway';

export interface ClusterOptions {
  /** Upload service instances; the gateway gets all their URLs. */
  uploadInstances?: number;
  /** Extra environment for every process. */
  env?: NodeJS.ProcessEnv;
  /** Extra environment per service. */
  serviceEnv?: Partial<Record<ServiceName, NodeJS.ProcessEnv>>;
}

export class ServiceProcess {
  private child: ChildProcess | undefined;
  readonly output: string[] = [];

  constructor(
    readonly name: string,
    readonly port: number,
    private readonly entry: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly readyPath: string,
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
    const child = spawn(process.execPath, ['--import', 'tsx', this.entry], { cwd: ROOT, env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
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

export interface Cluster {
  mode: Mode;
  baseUrl: string;
  dataDir: string;
  gateway: ServiceProcess;
  auth: ServiceProcess;
  files: ServiceProcess;
  uploads: ServiceProcess[];
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

const REAL_ONLY = ['AUTH_DATABASE_URL', 'UPLOAD_DATABASE_URL', 'FILES_DATABASE_URL', 'S3_ENDPOINT', 'S3_PUBLIC_ENDPOINT', 'S3_BUCKET', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY'];

export async function startCluster(mode: Mode, options: ClusterOptions = {}): Promise<Cluster> {
  const dataDir = mkdtempSync(join(tmpdir(), `govault-cluster-${mode}-`));
  const keyDir = join(dataDir, 'keys');
  ensureServiceKeys(keyDir);
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, INTERNAL_KEY_DIR: keyDir, LOG_LEVEL: 'warn', BCRYPT_ROUNDS: '4', ...options.env };
  const stops: Array<() => Promise<unknown>> = [];

  if (mode === 'embedded') {
    for (const name of REAL_ONLY) delete env[name];
    const db = await startEmbeddedDb(dataDir);
    stops.push(db.stop);
    env.AUTH_DATABASE_URL = env.UPLOAD_DATABASE_URL = env.FILES_DATABASE_URL = db.url;
  }

  const uploadPorts = await Promise.all(Array.from({ length: options.uploadInstances ?? 1 }, () => freePort()));
  const [gatewayPort, authPort, filesPort] = [await freePort(), await freePort(), await freePort()];
  Object.assign(env, {
    AUTH_URL: `http://127.0.0.1:${authPort}`,
    FILES_URL: `http://127.0.0.1:${filesPort}`,
    UPLOAD_URL: uploadPorts.map((p) => `http://127.0.0.1:${p}`).join(','),
  });
  const make = (name: ServiceName, port: number, label: string = name) =>
    new ServiceProcess(label, port, join(ROOT, 'server', name, 'src', 'main.ts'), {
      ...env,
      [`${name.toUpperCase()}_PORT`]: String(port),
      ...(name === 'upload' ? { UPLOAD_URL: undefined } : {}),
      ...options.serviceEnv?.[name],
    }, name === 'gateway' ? '/healthz' : '/readyz');

  const auth = make('auth', authPort);
  const files = make('files', filesPort);
  const uploads = uploadPorts.map((port, i) => make('upload', port, `upload-${i + 1}`));
  const gateway = make('gateway', gatewayPort);
  const stop = async () => {
    await Promise.all([gateway, auth, files, ...uploads].map((s) => s.kill('SIGTERM')));
    for (const stopDatabase of stops) await stopDatabase();
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await Promise.all([auth.start(), files.start()]);
    for (const upload of uploads) await upload.start(); // one at a time: migrations take a lock anyway
    await gateway.start();
  } catch (err) {
    await stop(); // a cluster that failed to start leaves no process behind
    throw err;
  }
  return { mode, baseUrl: gateway.url, dataDir, gateway, auth, files, uploads, env, stop };
}

async function startEmbeddedDb(dataDir: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'server/launcher/src/embedded-db.ts')], {
    cwd: ROOT,
    env: { ...process.env, EMBEDDED_DB_DIR: join(dataDir, 'postgres'), EMBEDDED_DB_PORT: String(port) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('embedded PostgreSQL did not start')), 120_000);
    child.once('exit', (code) => reject(new Error(`embedded PostgreSQL exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = /"url":"([^"]+)"/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
  });
  return {
    url,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Re-exported for the tests and benchmarks that import it from here. */
export { freePort } from '@govault/lib';
