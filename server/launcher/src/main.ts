import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureServiceKeys, freePorts, loadConfigOrExit } from '@govault/lib';
import { ensureWebAppBuilt } from '../../../web/build.ts';
import { launcherConfigSchema, type LauncherConfig } from './config.ts';
import { httpProbe, ManagedProcess, type Readiness } from './managed-process.ts';

/**
 * `npm start`: the whole system on one machine. Starts the embedded PostgreSQL when a
 * service has no database URL, then auth, files and upload, then the gateway; restarts
 * whatever dies, and stops everything on Ctrl-C.
 */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const entry = (service: string) => join(ROOT, 'server', service, 'src', 'main.ts');
const log = (message: string) => process.stdout.write(`launcher| ${message}\n`);
/** A first start may build, migrate and wait for the database: generous, but bounded. */
const READY_WITHIN_MS = 120_000;

const config = loadConfigOrExit(launcherConfigSchema);
const ports = await assignPorts(config.ports);
const keyDir = join(config.dataDir, 'keys');
ensureServiceKeys(keyDir);

const processes: ManagedProcess[] = [];
let shuttingDown = false;
process.once('SIGINT', () => void shutdown('SIGINT'));
process.once('SIGTERM', () => void shutdown('SIGTERM'));

try {
  await run();
} catch (err) {
  log(`could not start: ${(err as Error).message}`);
  await shutdown('startup failure', 1);
}

async function run(): Promise<void> {
  // Built while the database and the services start: the gateway is the only one that needs it.
  const webApp = webAppReady();
  const databaseUrls = await databases(config);
  const serviceUrl = (port: number) => `http://${config.host}:${port}`;
  const publicHost = ['127.0.0.1', '0.0.0.0', '::'].includes(config.host) ? 'localhost' : config.host.includes(':') ? `[${config.host}]` : config.host;
  const publicUrl = config.publicUrl ?? `http://${publicHost}:${ports.gateway}`;
  const sharedEnv: NodeJS.ProcessEnv = {
    ...process.env,
    HOST: config.host,
    DATA_DIR: config.dataDir,
    INTERNAL_KEY_DIR: keyDir,
    GATEWAY_PORT: String(ports.gateway),
    GATEWAY_METRICS_PORT: String(ports.gatewayMetrics),
    PUBLIC_URL: publicUrl,
    AUTH_PORT: String(ports.auth),
    UPLOAD_PORT: String(ports.upload),
    FILES_PORT: String(ports.files),
    AUTH_URL: serviceUrl(ports.auth),
    UPLOAD_URL: serviceUrl(ports.upload),
    FILES_URL: serviceUrl(ports.files),
    AUTH_DATABASE_URL: databaseUrls.auth,
    UPLOAD_DATABASE_URL: databaseUrls.upload,
    FILES_DATABASE_URL: databaseUrls.files,
    ...(config.webAppDir ? { WEB_APP_DIR: config.webAppDir } : {}),
  };

  const services = (['auth', 'files', 'upload'] as const).map((s) => startProcess(s, entry(s), sharedEnv, { probe: httpProbe(`${serviceUrl(ports[s])}/readyz`) }));
  await Promise.all(services.map((s) => s.whenReady(READY_WITHIN_MS)));
  await webApp;
  const gateway = startProcess('gateway', entry('gateway'), sharedEnv, { probe: httpProbe(`${serviceUrl(ports.gateway)}/healthz`) });
  await gateway.whenReady(READY_WITHIN_MS);
  log(`gateway metrics (operator only): ${serviceUrl(ports.gatewayMetrics)}/metrics`);
  log(`GoVault is up: ${publicUrl}  ${JSON.stringify({ ready: true, ports })}`);
}

/**
 * A fresh clone's `npm start` serves the current app with no extra step. A failed build
 * does not stop the system: the gateway serves the previous build, or a page saying what to run.
 */
async function webAppReady(): Promise<void> {
  if (config.webAppDir) {
    log(`web app: serving ${config.webAppDir} (WEB_APP_DIR) as it is`);
    return;
  }
  await ensureWebAppBuilt(log).catch((err: Error) => log(`web app: ${err.message}\nweb app: the gateway serves the previous build, if any; fix the error and start again, or run \`npm run build -w web\``));
}

function startProcess(name: string, script: string, env: NodeJS.ProcessEnv, readiness: Readiness): ManagedProcess {
  const managed = new ManagedProcess({ name, entry: script, env, cwd: ROOT, readiness }, log);
  processes.push(managed);
  managed.start();
  return managed;
}

async function databases(config: LauncherConfig): Promise<Record<'auth' | 'upload' | 'files', string>> {
  const given = config.databaseUrls;
  if (given.auth && given.upload && given.files) return given as Record<'auth' | 'upload' | 'files', string>;
  const port = config.embeddedDbPort || (await freePorts(1, config.host, Object.values(ports)))[0]!;
  const db = startProcess(
    'postgres',
    join(ROOT, 'server', 'launcher', 'src', 'embedded-db.ts'),
    { ...process.env, EMBEDDED_DB_DIR: join(config.dataDir, 'postgres'), EMBEDDED_DB_PORT: String(port) },
    { line: /"msg":"embedded postgres ready"/ },
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('embedded PostgreSQL did not start within 120 s')), 120_000);
    db.onLine((line) => {
      const match = /"url":"([^"]+)"/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
  });
  log(`embedded PostgreSQL ready (data in ${join(config.dataDir, 'postgres')})`);
  return { auth: given.auth ?? url, upload: given.upload ?? url, files: given.files ?? url };
}

/** Every port given as 0 gets a free one: all distinct, and none that another setting names. */
async function assignPorts<T extends Record<string, number>>(wanted: T): Promise<T> {
  const assigned = { ...wanted };
  const open = (Object.keys(assigned) as Array<keyof T>).filter((key) => assigned[key] === 0);
  const named = Object.values(wanted).filter((port) => port !== 0);
  if (config.embeddedDbPort) named.push(config.embeddedDbPort);
  const ports = await freePorts(open.length, config.host, named);
  open.forEach((key, i) => (assigned[key] = ports[i]! as T[keyof T]));
  return assigned;
}

async function shutdown(signal: string, exitCode = 0): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  log(`${signal}: stopping`);
  for (const p of processes) p.holdRestarts();
  const byName = (n: string) => processes.filter((p) => p.name === n);
  await Promise.all(byName('gateway').map((p) => p.stop()));
  await Promise.all(processes.filter((p) => !['gateway', 'postgres'].includes(p.name)).map((p) => p.stop()));
  await Promise.all(byName('postgres').map((p) => p.stop()));
  log('stopped');
  process.exit(exitCode);
}
