import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ensureServiceKeys, freePort, freePorts } from '@govault/lib';
import { ServiceProcess } from '@govault/lib/testing';
import { ensureWebAppBuilt } from '../web/build.ts';
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
  /** The database URL each service is given instead of `url` (e.g. through a proxy the test can cut). */
  databaseUrlFor?: (service: Exclude<ServiceName, 'gateway'>, url: string) => Promise<string>;
}

export interface Cluster {
  mode: Mode;
  baseUrl: string;
  /** The gateway's operator port: its /metrics. */
  gatewayMetricsUrl: string;
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
  // GATEWAY_METRICS_PORT 0: any further gateway a test starts from `env` takes a free operator port.
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, INTERNAL_KEY_DIR: keyDir, LOG_LEVEL: 'warn', BCRYPT_ROUNDS: '4', GATEWAY_METRICS_PORT: '0', ...options.env };
  const stops: Array<() => Promise<unknown>> = [];

  if (mode === 'embedded') {
    for (const name of REAL_ONLY) delete env[name];
    const db = await startEmbeddedDb(dataDir);
    stops.push(db.stop);
    env.AUTH_DATABASE_URL = env.UPLOAD_DATABASE_URL = env.FILES_DATABASE_URL = db.url;
  }

  const databaseUrls: Partial<Record<ServiceName, string>> = {};
  for (const service of ['auth', 'files', 'upload'] as const) {
    const url = env[`${service.toUpperCase()}_DATABASE_URL`];
    if (url && options.databaseUrlFor) databaseUrls[service] = await options.databaseUrlFor(service, url);
  }

  // One call: ports asked for one at a time can repeat, and two services on one port answer for each other.
  const [gatewayPort, authPort, filesPort, gatewayMetricsPort, ...uploadPorts] = (await freePorts(4 + (options.uploadInstances ?? 1))) as [number, number, number, number, ...number[]];
  Object.assign(env, {
    AUTH_URL: `http://127.0.0.1:${authPort}`,
    FILES_URL: `http://127.0.0.1:${filesPort}`,
    UPLOAD_URL: uploadPorts.map((p) => `http://127.0.0.1:${p}`).join(','),
  });
  const make = (name: ServiceName, port: number, label: string = name) =>
    new ServiceProcess(label, port, join(ROOT, 'server', name, 'src', 'main.ts'), {
      ...env,
      [`${name.toUpperCase()}_PORT`]: String(port),
      ...(databaseUrls[name] ? { [`${name.toUpperCase()}_DATABASE_URL`]: databaseUrls[name] } : {}),
      ...(name === 'upload' ? { UPLOAD_URL: undefined } : {}),
      ...(name === 'gateway' ? { GATEWAY_METRICS_PORT: String(gatewayMetricsPort) } : {}),
      ...options.serviceEnv?.[name],
    }, name === 'gateway' ? '/healthz' : '/readyz', ROOT, name);

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
    // The gateway serves web/dist: build it (when its sources changed) while the services start.
    const webApp = options.serviceEnv?.gateway?.WEB_APP_DIR ? undefined : ensureWebAppBuilt(() => undefined);
    webApp?.catch(() => undefined); // awaited below; not "unhandled" if a service fails first
    await Promise.all([auth.start(), files.start()]);
    for (const upload of uploads) await upload.start(); // one at a time: migrations take a lock anyway
    await webApp;
    await gateway.start();
  } catch (err) {
    await stop(); // a cluster that failed to start leaves no process behind
    throw err;
  }
  return { mode, baseUrl: gateway.url, gatewayMetricsUrl: `http://127.0.0.1:${gatewayMetricsPort}`, dataDir, gateway, auth, files, uploads, env, stop };
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
