import { randomBytes, randomUUID } from 'node:crypto';
import { request, type IncomingHttpHeaders } from 'node:http';
import test from 'ava';
import { postJson } from './client.ts';
import { startCluster, type Cluster } from './cluster.ts';
import { availableModes, startSystem, type Mode, type RunningSystem } from './system.ts';

/**
 * The attacks of issue 11 on the gateway's edge, against real processes: other spellings
 * of the credential routes after the budget is spent, made-up paths that grew the
 * metrics, a forged Host reflected into tus and part URLs, and /metrics on the public
 * port. The cluster's gateway stands behind one trusted proxy (so each test is a client
 * address of its own, by X-Forwarded-For) with a configured PUBLIC_URL; the last tests
 * start GoVault as `npm start` does, with the launcher's defaults.
 */
const PUBLIC_ORIGIN = 'https://vault.example.com';
const AUTH_BUDGET = 5;
const FORGED_HOSTS = ['evil.example', 'evil.example/x?', 'evil.example:8080'];

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** Any request line and headers, Host included (fetch will not send a forged Host). */
function send(baseUrl: string, method: string, path: string, headers: Record<string, string>, body?: string | Uint8Array): Promise<Answer> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, method, path, headers: { ...headers, ...(body ? { 'content-length': String(Buffer.byteLength(body)) } : {}) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

let clientNumber = 0;
/** A client address of its own, as the trusted proxy reports it. */
const newClient = () => ({ 'X-Forwarded-For': `203.0.113.${++clientNumber}` });

async function account(baseUrl: string, client: Record<string, string>) {
  const email = `edge-${randomUUID()}@example.test`;
  const password = `pw-${randomUUID()}`;
  const registered = await postJson(`${baseUrl}/api/auth/register`, { email, password }, client);
  if (registered.status !== 201) throw new Error(`register answered ${registered.status}`);
  const login = await postJson(`${baseUrl}/api/auth/login`, { email, password }, client);
  if (login.status !== 200) throw new Error(`login answered ${login.status}`);
  const { accessToken } = login.body as { accessToken: string };
  return { email, password, auth: { Authorization: `Bearer ${accessToken}` } };
}

/** The distinct `route` labels of a process's request counter. */
async function routeLabels(metricsUrl: string): Promise<Set<string>> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  return new Set([...text.matchAll(/^http_requests_total\{[^}]*route="([^"]*)"/gm)].map((m) => m[1]!));
}

/** POSTs a service counted as "unmatched": requests that reached it and matched no route of its own. */
async function unmatchedPostsAt(serviceUrl: string): Promise<number> {
  const text = await (await fetch(`${serviceUrl}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('http_requests_total{') && line.includes('method="POST"') && line.includes('route="unmatched"'))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

const clusters: Cluster[] = [];
const systems: RunningSystem[] = [];
test.after.always(async () => {
  for (const cluster of clusters) await cluster.stop();
  for (const system of systems) await system.stop();
});

for (const mode of availableModes()) {
  let started: Promise<Cluster> | undefined;
  const clusterOf = () =>
    (started ??= startCluster(mode, {
      serviceEnv: {
        gateway: { TRUST_PROXY_HOPS: '1', PUBLIC_URL: PUBLIC_ORIGIN, RATE_LIMIT_AUTH_MAX: String(AUTH_BUDGET), RATE_LIMIT_WINDOW_SECONDS: '3600' },
      },
    }).then((c) => (clusters.push(c), c)));

  test.serial(`${mode}: once an address has spent its credential budget, no other spelling of login or register answers`, async (t) => {
    const cluster = await clusterOf();
    const client = newClient();
    const user = await account(cluster.baseUrl, client);
    const login = (path: string, headers: Record<string, string> = {}) =>
      postJson(`${cluster.baseUrl}${path}`, { email: user.email, password: user.password }, { ...client, ...headers });
    for (let i = 2; i < AUTH_BUDGET; i++) await postJson(`${cluster.baseUrl}/api/auth/login`, { email: user.email, password: 'wrong' }, client);
    t.is((await login('/api/auth/login')).status, 429, 'the budget is spent');

    // Auth's own metrics count what reached it without matching a route of its: nothing may.
    const unmatchedBefore = await unmatchedPostsAt(cluster.auth.url);
    for (const path of ['/api/auth/login/', '/api/auth/Login', '/api/auth/LOGIN', '/API/auth/login', '/api/auth//login', '/api/auth/login/.']) {
      for (const headers of [{}, user.auth]) {
        const answer = await login(path, headers);
        t.falsy((answer.body as { accessToken?: string } | undefined)?.accessToken, `${path} logged in`);
        t.is(answer.status, headers === user.auth ? 404 : 401, `${path} ${headers === user.auth ? 'with' : 'without'} a token`);
      }
    }
    const newcomer = { email: `edge-${randomUUID()}@example.test`, password: `pw-${randomUUID()}` };
    for (const path of ['/api/auth/register/', '/api/auth/Register', '/api/auth/REGISTER']) {
      for (const headers of [{}, user.auth]) {
        const answer = await postJson(`${cluster.baseUrl}${path}`, newcomer, { ...client, ...headers });
        t.not(answer.status, 201, `${path} created an account`);
      }
    }
    t.is(await unmatchedPostsAt(cluster.auth.url), unmatchedBefore, 'no variant reached the auth service');

    // From another address (a budget of its own): the password was right, and no account was made.
    const other = newClient();
    t.is((await postJson(`${cluster.baseUrl}/api/auth/login`, { email: user.email, password: user.password }, other)).status, 200);
    t.is((await postJson(`${cluster.baseUrl}/api/auth/login`, newcomer, other)).status, 401, 'the variants registered nobody');
  });

  test.serial(`${mode}: 120 made-up paths add no route label to the gateway's or the services' metrics`, async (t) => {
    const cluster = await clusterOf();
    const client = newClient();
    const user = await account(cluster.baseUrl, client);
    const services = [cluster.auth.url, cluster.files.url, ...cluster.uploads.map((u) => u.url)];
    await fetch(`${cluster.baseUrl}/api/auth/me`, { headers: { ...client, ...user.auth } }); // the gateway fetches the JWKS before the count
    const before = await Promise.all([cluster.gatewayMetricsUrl, ...services].map(routeLabels));
    for (let i = 0; i < 120; i++) {
      // Real route words in made-up places: /api/files/made-up-7/content7/me7, …; none is a route.
      const words = Array.from({ length: 1 + (i % 5) }, (_, j) => `${['me', 'content', 'tus', 'login'][(i + j) % 4]}${i}`);
      const path = `/api/${['files', 'auth', 'uploads', 'public', 'x'][i % 5]}/made-up-${i}/${words.join('/')}`;
      await fetch(`${cluster.baseUrl}${path}`, { headers: i % 2 ? client : { ...client, ...user.auth } });
      // Straight at a service too (it refuses without an internal token, and counts it).
      await fetch(`${services[i % services.length]}${path}`);
    }
    await new Promise((r) => setTimeout(r, 100));
    const after = await Promise.all([cluster.gatewayMetricsUrl, ...services].map(routeLabels));
    after.forEach((labels, i) => {
      const added = [...labels].filter((label) => !before[i]!.has(label) && label !== 'unmatched');
      t.deepEqual(added, [], `new labels at ${i === 0 ? 'the gateway' : services[i - 1]}`);
      t.true(labels.size < 40, `${labels.size} labels`);
    });
    t.true(after[0]!.has('unmatched'));
  });

  test.serial(`${mode}: a forged Host or X-Forwarded-Host never appears in a tus Location; the upload completes on the public origin`, async (t) => {
    const cluster = await clusterOf();
    const client = newClient();
    const user = await account(cluster.baseUrl, client);
    const data = randomBytes(1024);
    const tus = { ...client, ...user.auth, 'Tus-Resumable': '1.0.0', 'Upload-Length': String(data.length) };
    const forgeries = [
      ...FORGED_HOSTS.map((host) => ({ host })),
      ...FORGED_HOSTS.map((host) => ({ host: 'vault.example.com', 'x-forwarded-host': host, 'x-forwarded-proto': 'http' })),
    ];
    for (const forged of forgeries) {
      const created = await send(cluster.baseUrl, 'POST', '/api/uploads/tus', { ...tus, ...forged });
      t.is(created.status, 201, JSON.stringify(forged));
      const location = String(created.headers.location);
      t.notRegex(location, /evil/, JSON.stringify(forged));
      t.true(location.startsWith(`${PUBLIC_ORIGIN}/api/uploads/tus/`), location);
    }
    const created = await send(cluster.baseUrl, 'POST', '/api/uploads/tus', { ...tus, host: 'evil.example' });
    const patched = await send(
      cluster.baseUrl,
      'PATCH',
      new URL(String(created.headers.location)).pathname,
      { ...client, ...user.auth, host: 'vault.example.com', 'Tus-Resumable': '1.0.0', 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
      data,
    );
    t.is(patched.status, 204);
    t.truthy(patched.headers['govault-file-id']);
  });

  test.serial(`${mode}: a forged Host never appears in direct-upload part URLs or the completed location`, async (t) => {
    const cluster = await clusterOf();
    const client = newClient();
    const user = await account(cluster.baseUrl, client);
    const json = { ...client, ...user.auth, 'content-type': 'application/json' };
    for (const host of FORGED_HOSTS) {
      const created = await send(cluster.baseUrl, 'POST', '/api/uploads/s3/multipart', { ...json, host }, JSON.stringify({ filename: 'edge.bin', type: 'application/octet-stream', metadata: {} }));
      t.is(created.status, 200, created.text);
      const { uploadId, key } = JSON.parse(created.text) as { uploadId: string; key: string };
      const query = `key=${encodeURIComponent(key)}`;
      const signed = await send(cluster.baseUrl, 'GET', `/api/uploads/s3/multipart/${uploadId}/1?${query}`, { ...json, host });
      const batch = await send(cluster.baseUrl, 'GET', `/api/uploads/s3/multipart/${uploadId}/batch?${query}&partNumbers=1,2`, { ...json, host });
      const urls = [(JSON.parse(signed.text) as { url: string }).url, ...Object.values((JSON.parse(batch.text) as { presignedUrls: Record<string, string> }).presignedUrls)];
      for (const url of urls) {
        t.notRegex(url, /evil/, `${host}: ${url}`);
        if (mode === 'embedded') t.true(url.startsWith(`${PUBLIC_ORIGIN}/api/uploads/parts/`), url);
      }
      if (mode === 'embedded') {
        // The part goes where the URL says, through the proxy: to the gateway, on the URL's path.
        const part = new URL(urls[0]!);
        const put = await send(cluster.baseUrl, 'PUT', `${part.pathname}${part.search}`, { ...client, host: part.host }, randomBytes(100));
        t.is(put.status, 200, put.text);
        const done = await send(cluster.baseUrl, 'POST', `/api/uploads/s3/multipart/${uploadId}/complete?${query}`, { ...json, host }, JSON.stringify({ parts: [{ PartNumber: 1, ETag: String(put.headers.etag).replaceAll('"', '') }] }));
        t.is(done.status, 200, done.text);
        t.true((JSON.parse(done.text) as { location: string }).location.startsWith(`${PUBLIC_ORIGIN}/api/files/`));
      }
    }
  });

  test.serial(`${mode}: the gateway's /metrics is not on the public port, only on the operator's`, async (t) => {
    const cluster = await clusterOf();
    const client = newClient();
    const user = await account(cluster.baseUrl, client);
    const anonymous = await fetch(`${cluster.baseUrl}/metrics`, { headers: client });
    t.is(anonymous.status, 401);
    const withToken = await fetch(`${cluster.baseUrl}/metrics`, { headers: { ...client, ...user.auth } });
    t.is(withToken.status, 404);
    t.notRegex(await withToken.text(), /circuit_breaker|127\.0\.0\.1/);
    const operator = await fetch(`${cluster.gatewayMetricsUrl}/metrics`);
    t.is(operator.status, 200);
    t.regex(await operator.text(), new RegExp(`circuit_breaker_open\\{[^}]*instance="${cluster.files.url}"`));
    t.is((await fetch(`${cluster.baseUrl}/healthz`)).status, 200, 'load balancers still check the public port');
  });

  test.serial(`${mode}: npm start: URLs on the browser's own loopback origin or on PUBLIC_URL's default, metrics on their own port`, async (t) => {
    const system = await startSystem(mode as Mode);
    systems.push(system);
    const gatewayPort = system.ports.gateway;
    t.true(system.output.some((line) => line.includes(`gateway metrics (operator only): http://127.0.0.1:${system.ports.gatewayMetrics}/metrics`)), 'the launcher prints the metrics port');
    const user = await account(system.baseUrl, {});
    const tus = { ...user.auth, 'Tus-Resumable': '1.0.0', 'Upload-Length': '10' };
    for (const host of FORGED_HOSTS) {
      const created = await send(system.baseUrl, 'POST', '/api/uploads/tus', { ...tus, host });
      t.true(String(created.headers.location).startsWith(`http://localhost:${gatewayPort}/api/uploads/tus/`), `${host}: ${created.headers.location}`);
    }
    for (const host of [`127.0.0.1:${gatewayPort}`, `localhost:${gatewayPort}`]) {
      const created = await send(system.baseUrl, 'POST', '/api/uploads/tus', { ...tus, host });
      t.true(String(created.headers.location).startsWith(`http://${host}/api/uploads/tus/`), `${host}: ${created.headers.location}`);
    }
    t.is((await fetch(`${system.baseUrl}/metrics`)).status, 401);
    const metrics = await fetch(`http://127.0.0.1:${system.ports.gatewayMetrics}/metrics`);
    t.is(metrics.status, 200);
    t.regex(await metrics.text(), /http_requests_total\{/);
  });
}
