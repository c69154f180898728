import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateBucketCommand, DeleteBucketCommand } from '@aws-sdk/client-s3';
import test, { type ExecutionContext } from 'ava';
import * as tus from 'tus-js-client';
import { createS3Client, freePort } from '@govault/lib';
import { ServiceProcess, eventually, testS3 } from '@govault/lib/testing';
import { getJson, postJson } from './client.ts';
import { startCluster, type Cluster, type ServiceName } from './cluster.ts';
import { ROOT, availableModes, type Mode } from './system.ts';
import { TcpProxy } from './tcp-proxy.ts';
import { createUpload, patchUpload } from './tus-raw.ts';

/**
 * What the README promises operators, against the real processes with their stdout
 * captured: one request id through gateway, upload and files; no secret in any log line
 * at LOG_LEVEL=trace; `/readyz` naming the check that fails (each service's database,
 * files' storage, the gateway's upstreams), and files ready once its bucket exists. One
 * cluster per mode, each service's database (and files' S3) behind a proxy a test cuts.
 */
const KiB = 1024;
const MiB = 1024 * KiB;
type Backend = Exclude<ServiceName, 'gateway'>;

interface ObservedCluster {
  cluster: Cluster;
  databases: Record<Backend, TcpProxy>;
  /** Between files and S3 (real mode). */
  filesS3?: TcpProxy;
}

const started: ObservedCluster[] = [];
test.after.always(async () => {
  for (const { cluster, databases, filesS3 } of started) {
    await cluster.stop();
    for (const proxy of [...Object.values(databases), filesS3]) await proxy?.close();
  }
});

async function startObservedCluster(mode: Mode): Promise<ObservedCluster> {
  const s3Endpoint = process.env.S3_ENDPOINT;
  const filesS3 = mode === 'real' ? await TcpProxy.to(s3Endpoint!) : undefined;
  const databases: Partial<Record<Backend, TcpProxy>> = {};
  const cluster = await startCluster(mode, {
    env: { LOG_LEVEL: 'trace' },
    serviceEnv: {
      files: filesS3 ? { S3_ENDPOINT: filesS3.rewrite(s3Endpoint!), S3_PUBLIC_ENDPOINT: process.env.S3_PUBLIC_ENDPOINT ?? s3Endpoint } : {},
    },
    databaseUrlFor: async (service, url) => {
      const proxy = (databases[service] = await TcpProxy.to(url));
      return proxy.rewrite(url);
    },
  });
  const observed = { cluster, databases: databases as Record<Backend, TcpProxy>, filesS3 };
  started.push(observed);
  return observed;
}

interface LogLine {
  requestId?: string;
  method?: string;
  path?: string;
  status?: number;
  msg?: string;
  [key: string]: unknown;
}

/** The JSON lines a process wrote (pino), leaving out anything else it printed. */
function logLines(proc: ServiceProcess): LogLine[] {
  return proc.output.flatMap((line) => {
    try {
      const parsed = JSON.parse(line) as unknown;
      return parsed && typeof parsed === 'object' ? [parsed as LogLine] : [];
    } catch {
      return [];
    }
  });
}

/** Waits (bounded) until `process` has logged a line that `matches`; access lines are written when the answer is done. */
async function loggedLine(proc: ServiceProcess, matches: (line: LogLine) => boolean): Promise<LogLine | undefined> {
  await eventually(async () => logLines(proc).some(matches), 10_000, 50);
  return logLines(proc).find(matches);
}

interface Session {
  id: string;
  email: string;
  password: string;
  accessToken: string;
  refreshToken: string;
  auth: { Authorization: string };
}

async function signUp(baseUrl: string): Promise<Session> {
  const email = `obs-${randomUUID()}@example.test`;
  const password = `pw-${randomUUID()}`;
  const registered = await postJson(`${baseUrl}/api/auth/register`, { email, password, displayName: 'Observer' });
  if (registered.status !== 201) throw new Error(`register answered ${registered.status}`);
  const login = await postJson(`${baseUrl}/api/auth/login`, { email, password });
  const { accessToken, refreshToken } = login.body as { accessToken: string; refreshToken: string };
  return { id: (registered.body as { id: string }).id, email, password, accessToken, refreshToken, auth: { Authorization: `Bearer ${accessToken}` } };
}

const modes = availableModes();
if (!modes.includes('real')) console.warn('e2e: files /readyz with a missing bucket (HeadBucket) needs S3: not run here');

for (const mode of modes) {
  let setUp: Promise<ObservedCluster> | undefined;
  const clusterOf = () => (setUp ??= startObservedCluster(mode));

  test.serial(`${mode}: one request id follows the PATCH that completes an upload: on the answer and in the log lines of gateway, upload and files`, async (t) => {
    const { cluster } = await clusterOf();
    const user = await signUp(cluster.baseUrl);
    const complete = async (requestId: string | undefined) => {
      const data = randomBytes(4 * KiB);
      const url = await createUpload(cluster.baseUrl, user, data.length, 'traced.txt');
      const answer = await patchUpload(url, user, 0, data, requestId ? { 'X-Request-Id': requestId } : {});
      t.is(answer.status, 204);
      t.truthy(answer.headers.get('govault-file-id'), 'the PATCH registered the file with files');
      return { id: answer.headers.get('x-request-id')!, path: new URL(url).pathname };
    };
    const followed = async (id: string, path: string) => {
      const gateway = await loggedLine(cluster.gateway, (l) => l.requestId === id && l.msg === 'request');
      t.like(gateway, { method: 'PATCH', path, status: 204 }, 'the gateway\'s access line');
      const upload = await loggedLine(cluster.uploads[0]!, (l) => l.requestId === id && l.msg === 'request');
      t.like(upload, { method: 'PATCH', path, status: 204 }, 'the upload service\'s access line');
      const files = await loggedLine(cluster.files, (l) => l.requestId === id && l.msg === 'request');
      t.like(files, { method: 'POST', path: '/internal/files', status: 201 }, 'the registration upload made to files');
    };

    const clientId = `client.trace-${randomUUID()}`;
    const sent = await complete(clientId);
    t.is(sent.id, clientId, 'the client\'s id comes back');
    await followed(clientId, sent.path);

    const generated = await complete(undefined);
    t.regex(generated.id, /^[0-9a-f-]{36}$/, 'without one the gateway makes one');
    await followed(generated.id, generated.path);

    const insane = `${'x'.repeat(129)}`;
    const replaced = await complete(insane);
    t.regex(replaced.id, /^[0-9a-f-]{36}$/, 'an id longer than 128 characters is replaced');
    await followed(replaced.id, replaced.path);
    for (const proc of [cluster.gateway, cluster.uploads[0]!, cluster.files]) {
      t.false(proc.output.some((line) => line.includes(insane)), `${proc.name} never logged the refused id`);
    }
  });

  test.serial(`${mode}: at LOG_LEVEL=trace no password, token, key or signature appears in any process's output`, async (t) => {
    const { cluster } = await clusterOf();
    const base = cluster.baseUrl;
    const secrets = new Map<string, string>();
    const keep = (what: string, value: string | undefined | null) => {
      if (value) secrets.set(value, what);
    };

    // Accounts: registration, logins (one with a wrong password), refreshes, a reused refresh token, logout.
    const user = await signUp(base);
    keep('password', user.password);
    keep('access token', user.accessToken);
    keep('refresh token', user.refreshToken);
    const wrongPassword = `wrong-${randomUUID()}`;
    keep('wrong password', wrongPassword);
    t.is((await postJson(`${base}/api/auth/login`, { email: user.email, password: wrongPassword })).status, 401);
    const refreshed = await postJson(`${base}/api/auth/refresh`, { refreshToken: user.refreshToken });
    t.is(refreshed.status, 200);
    const pair = refreshed.body as { accessToken: string; refreshToken: string };
    keep('access token', pair.accessToken);
    keep('refresh token', pair.refreshToken);
    const auth = { Authorization: `Bearer ${pair.accessToken}` };
    t.is((await getJson(`${base}/api/auth/me`, auth)).status, 200);
    const forged = `${pair.accessToken.slice(0, -8)}AAAAAAAA`;
    keep('forged access token', forged);
    t.is((await getJson(`${base}/api/files`, { Authorization: `Bearer ${forged}` })).status, 401);
    const internal = `eyJhbGciOiJFUzI1NiJ9.${Buffer.from(JSON.stringify({ sub: 'gateway', aud: 'files' })).toString('base64url')}.${randomBytes(64).toString('base64url')}`;
    keep('forged internal token', internal);
    t.is((await fetch(`${cluster.files.url}/api/files`, { headers: { 'x-internal-token': internal } })).status, 401);

    // A tus upload with tus-js-client, its Authorization on every request.
    const data = randomBytes(2 * MiB + 5);
    let fileId: string | undefined;
    await new Promise<void>((resolve, reject) => {
      new tus.Upload(data, {
        endpoint: `${base}/api/uploads/tus`,
        headers: auth,
        chunkSize: MiB,
        metadata: { filename: 'secret-free.bin' },
        onAfterResponse: (_req, res) => void (fileId = res.getHeader('GoVault-File-Id') ?? fileId),
        onSuccess: () => resolve(),
        onError: reject,
      }).start();
    });
    t.truthy(fileId);
    const content = await fetch(`${base}/api/files/${fileId}/content`, { headers: auth, redirect: 'manual' });
    if (mode === 'real') {
      t.is(content.status, 302);
      const presigned = new URL(content.headers.get('location')!);
      keep('presigned download signature', presigned.searchParams.get('X-Amz-Signature'));
      t.is((await fetch(presigned)).status, 200);
    } else {
      t.is(content.status, 200);
    }

    // A direct multipart upload: part URLs signed by the upload service (embedded) or presigned for S3.
    const companion = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${base}/api/uploads/s3/multipart${path}`, {
        method,
        headers: { ...auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return (await response.json()) as any;
    };
    const created = (await companion('POST', '', { filename: 'direct.bin', type: 'application/octet-stream', metadata: {} })) as { uploadId: string; key: string };
    const { url } = (await companion('GET', `/${created.uploadId}/1?key=${encodeURIComponent(created.key)}`)) as { url: string };
    const partUrl = new URL(url);
    keep('part URL signature', partUrl.searchParams.get('X-Amz-Signature') ?? partUrl.searchParams.get('signature'));
    const tampered = new URL(partUrl);
    for (const name of ['X-Amz-Signature', 'signature']) {
      const value = tampered.searchParams.get(name);
      if (value) tampered.searchParams.set(name, `${value.slice(0, -4)}${value.endsWith('0000') ? '1111' : '0000'}`);
    }
    // versitygw cuts a tampered presigned PUT off mid-body rather than answering 403.
    const refused = await fetch(tampered, { method: 'PUT', body: randomBytes(KiB) }).then((r) => r.status, () => 'reset');
    t.true(refused === 403 || refused === 'reset', `a tampered part URL is refused (${refused})`);
    const part = await fetch(partUrl, { method: 'PUT', body: randomBytes(256 * KiB) });
    t.is(part.status, 200);
    const done = await companion('POST', `/${created.uploadId}/complete?key=${encodeURIComponent(created.key)}`, { parts: [{ PartNumber: 1, ETag: part.headers.get('etag') }] });
    t.truthy(done.fileId, 'the direct upload became a file');

    // Logging out, then the revoked refresh token presented again.
    t.is((await fetch(`${base}/api/auth/logout`, { method: 'POST', headers: auth })).status, 204);
    t.is((await postJson(`${base}/api/auth/refresh`, { refreshToken: pair.refreshToken })).status, 401);

    // Keys and signing secrets of this deployment.
    keep('S3 secret key', process.env.S3_SECRET_ACCESS_KEY && mode === 'real' ? process.env.S3_SECRET_ACCESS_KEY : undefined);
    const multipartKey = join(cluster.dataDir, 'multipart-signing.key');
    if (existsSync(multipartKey)) keep('part URL signing key', readFileSync(multipartKey, 'utf8').trim());
    for (const dir of ['keys', 'auth-signing-keys']) {
      for (const file of readdirSync(join(cluster.dataDir, dir)).filter((f) => f.endsWith('.key'))) {
        // A PEM key's body lines; any one of them in a log would be a leak.
        for (const line of readFileSync(join(cluster.dataDir, dir, file), 'utf8').split('\n')) if (line.length >= 40 && !line.startsWith('-----')) keep(`private key ${dir}/${file}`, line);
      }
    }
    t.true([...secrets.values()].some((what) => what.startsWith('private key')), 'the deployment\'s private keys were found to look for');

    // Every line of every process, and there are lines to look at: each one's access log saw this traffic.
    await loggedLine(cluster.gateway, (l) => l.path === '/api/auth/logout');
    const processes = [cluster.gateway, cluster.auth, cluster.uploads[0]!, cluster.files];
    t.truthy(logLines(cluster.auth).find((l) => l.path === '/api/auth/login' && l.status === 401), 'auth logged the failed login');
    t.truthy(logLines(cluster.uploads[0]!).find((l) => l.path?.startsWith('/api/uploads/s3/multipart')), 'upload logged the multipart calls');
    t.truthy(logLines(cluster.files).find((l) => l.path === '/api/files' && l.status === 401), 'files logged the forged internal token');
    const jwt = /eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{16,}/;
    for (const proc of processes) {
      t.true(proc.output.length < 1000, `${proc.name}: no line was dropped before it could be read`);
      const leaks = proc.output.flatMap((line) => [...secrets].filter(([secret]) => line.includes(secret)).map(([, what]) => what));
      t.deepEqual([...new Set(leaks)], [], `${proc.name} logged no secret`);
      t.deepEqual(proc.output.filter((line) => jwt.test(line)), [], `${proc.name} logged no token (access, refresh or internal)`);
    }
  });

  test.serial(`${mode}: /readyz of each service answers 503 naming its database while that is unreachable, and the gateway's names the upstream with no ready instance`, async (t) => {
    const { cluster, databases } = await clusterOf();
    const processOf: Record<Backend, ServiceProcess> = { auth: cluster.auth, upload: cluster.uploads[0]!, files: cluster.files };
    for (const service of ['auth', 'upload', 'files'] as const) {
      databases[service].down();
      try {
        const ready = await readyzOf(processOf[service].url, (r) => r.status === 503);
        t.is(ready.status, 503, `${service} is not ready without its database`);
        t.is(ready.body.status, 'not_ready');
        t.not(ready.body.checks.database, 'ok', `${service} names its database`);
        for (const [check, state] of Object.entries(ready.body.checks)) if (check !== 'database') t.is(state, 'ok', `${service}: only the database fails (${check})`);
        await gatewayNames(t, cluster, service);
      } finally {
        databases[service].open();
      }
      await everythingReady(t, cluster);
    }
  });

  test.serial(`${mode}: /readyz of files answers 503 naming its storage while that is unreachable; the gateway names files`, async (t) => {
    const { cluster, filesS3 } = await clusterOf();
    // Disk: the storage folder is gone and a file stands in its place (a mount that went away).
    const objects = join(cluster.dataDir, 'objects');
    const cut = () => {
      if (filesS3) return filesS3.down();
      renameSync(objects, `${objects}.away`);
      writeFileSync(objects, 'not a folder');
    };
    const mend = () => {
      if (filesS3) return filesS3.open();
      rmSync(objects, { force: true });
      renameSync(`${objects}.away`, objects);
    };
    cut();
    try {
      const ready = await readyzOf(cluster.files.url, (r) => r.status === 503);
      t.is(ready.status, 503);
      t.not(ready.body.checks.storage, 'ok', 'files names its storage');
      t.is(ready.body.checks.database, 'ok');
      await gatewayNames(t, cluster, 'files');
    } finally {
      mend();
    }
    await everythingReady(t, cluster);
  });

  if (mode === 'real') {
    test.serial(`${mode}: files with a bucket that does not exist yet is not ready (storage, HeadBucket) until the bucket is made, without a restart`, async (t) => {
      const { cluster } = await clusterOf();
      const s3 = testS3()!;
      const bucket = `govault-readyz-${randomUUID().slice(0, 8)}`;
      const port = await freePort();
      const files = new ServiceProcess('files-new-bucket', port, join(ROOT, 'server/files/src/main.ts'), {
        ...cluster.env,
        FILES_PORT: String(port),
        S3_BUCKET: bucket,
      }, '/healthz', ROOT, 'files');
      const client = createS3Client(s3.settings);
      try {
        await files.start();
        const missing = await readyzOf(files.url, (r) => r.status === 503);
        t.is(missing.status, 503);
        t.not(missing.body.checks.storage, 'ok', 'the missing bucket is the storage check');
        t.is(missing.body.checks.database, 'ok');
        await client.send(new CreateBucketCommand({ Bucket: bucket }));
        const made = await readyzOf(files.url, (r) => r.status === 200);
        t.is(made.status, 200, 'ready once the bucket exists, same process');
        t.deepEqual(made.body.checks, { database: 'ok', storage: 'ok' });
      } finally {
        await files.kill('SIGTERM');
        await client.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => undefined);
        client.destroy();
      }
    });
  }
}

interface Readiness {
  status: number;
  body: { status: string; checks: Record<string, string> };
}

/** Polls a /readyz until `until` holds (bounded: each check has a 2 s timeout); answers the last reading. */
async function readyzOf(url: string, until: (r: Readiness) => boolean, timeoutMs = 20_000): Promise<Readiness> {
  const read = async (): Promise<Readiness> => {
    const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5_000) });
    return { status: response.status, body: (await response.json()) as Readiness['body'] };
  };
  let last = await read();
  await eventually(async () => until((last = await read())), timeoutMs, 200);
  return last;
}

/** The gateway's /readyz, on its operator port and on the public one, names `service` and only it. */
async function gatewayNames(t: ExecutionContext, cluster: Cluster, service: Backend) {
  for (const url of [cluster.gatewayMetricsUrl, cluster.baseUrl]) {
    const ready = await readyzOf(url, (r) => r.status === 503);
    t.is(ready.status, 503, `gateway ${url}`);
    t.is(ready.body.checks[service], `no ${service} instance is ready`);
    for (const [check, state] of Object.entries(ready.body.checks)) if (check !== service) t.is(state, 'ok', `gateway: only ${service} fails (${check})`);
  }
}

async function everythingReady(t: ExecutionContext, cluster: Cluster) {
  for (const url of [cluster.auth.url, cluster.uploads[0]!.url, cluster.files.url, cluster.gatewayMetricsUrl]) {
    t.is((await readyzOf(url, (r) => r.status === 200)).status, 200, `${url} is ready again`);
  }
}
