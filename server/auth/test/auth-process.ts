import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@govault/lib';
import { ServiceProcess, testDatabase, testServiceKeys, type TestDatabase } from '@govault/lib/testing';

/**
 * The auth service as its own process (as it runs in production: its bcrypt threads and
 * event loop are not the test's), called as the gateway calls it: a gateway-signed
 * internal token and the client's address in X-Forwarded-For. Shared by the login
 * fairness test and its benchmark.
 */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface AuthProcess {
  db: TestDatabase;
  service: ServiceProcess;
  /** POST as the gateway would forward it for a client at `clientIp`. */
  post(path: string, body: unknown, clientIp: string): Promise<{ status: number; retryAfter: string | null; ms: number }>;
  stop(): Promise<void>;
}

/** The auth service's process (not started) on a free port, with its database, service keys and data folder. */
export async function authServiceProcess(databaseUrl: string, keyDir: string, dataDir: string, env: NodeJS.ProcessEnv): Promise<ServiceProcess> {
  const port = await freePort();
  return new ServiceProcess('auth', port, join(ROOT, 'server/auth/src/main.ts'), {
    ...process.env,
    AUTH_PORT: String(port),
    HOST: '127.0.0.1',
    AUTH_DATABASE_URL: databaseUrl,
    INTERNAL_KEY_DIR: keyDir,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    ...env,
  }, '/readyz', ROOT, 'auth');
}

export async function startAuthProcess(env: NodeJS.ProcessEnv): Promise<AuthProcess> {
  const db = await testDatabase('auth');
  const keys = testServiceKeys();
  const gateway = keys.issuerFor('gateway');
  const service = await authServiceProcess(db.url, keys.dir, mkdtempSync(join(tmpdir(), 'govault-auth-process-')), env);
  try {
    await service.start();
  } catch (err) {
    await db.stop();
    throw err;
  }

  const post: AuthProcess['post'] = async (path, body, clientIp) => {
    const started = performance.now();
    const response = await fetch(`${service.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-internal-token': gateway.issue('auth'), 'x-forwarded-for': clientIp },
      body: JSON.stringify(body),
    });
    await response.arrayBuffer();
    return { status: response.status, retryAfter: response.headers.get('retry-after'), ms: performance.now() - started };
  };
  const stop = async () => {
    await service.kill('SIGTERM');
    await db.stop();
  };
  return { db, service, post, stop };
}

/**
 * Failed logins from `clientIp`, `concurrency` at a time, each for another unknown email
 * (so the per-email throttle never steps in), until `until` settles. A refused request
 * waits its Retry-After, as the gateway's per-address limit would slow it anyway.
 */
export async function failedLoginFlood(auth: AuthProcess, clientIp: string, concurrency: number, until: Promise<unknown>) {
  const statuses: number[] = [];
  const retryAfters: Array<string | null> = [];
  let stopped = false;
  void until.finally(() => (stopped = true));
  let n = 0;
  const worker = async () => {
    do {
      const { status, retryAfter } = await auth.post('/api/auth/login', { email: `flood-${n++}@example.com`, password: 'not the password' }, clientIp);
      statuses.push(status);
      if (status === 429) retryAfters.push(retryAfter);
      if (status === 429) await new Promise((r) => setTimeout(r, Number(retryAfter) * 1000));
    } while (!stopped);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { statuses, retryAfters };
}

export const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
