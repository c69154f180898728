import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import test from 'ava';
import { RawConnection } from './raw-http.ts';
import { accessToken, standIn, startGateway, type StandIn, type TestGateway } from './support.ts';

/**
 * The gateway's edge against stand-in upstreams that record what reached them: only
 * exact routes are answered (and counted under their own limits and labels), the origin
 * of emitted URLs is never the client's Host, and /metrics is the operator's alone.
 * The same attacks against the real services are in e2e/gateway-edge.test.ts.
 */
let upstream: StandIn;
test.before(async () => {
  upstream = await standIn();
});
test.after.always(() => upstream?.close());

async function gatewayWith(env: Record<string, string>, t: { teardown(fn: () => Promise<void>): void }, services = upstream): Promise<TestGateway> {
  const gateway = await startGateway({
    AUTH_URL: services.url,
    FILES_URL: services.url,
    UPLOAD_URL: services.url,
    RATE_LIMIT_WINDOW_SECONDS: '3600',
    LOG_LEVEL: 'silent',
    ...env,
  });
  t.teardown(() => gateway.close());
  return gateway;
}

/** A request with any Host header (fetch will not send a forged one). */
function send(port: number, method: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** What reached the stand-in for the request of this user (each test uses a user of its own). */
const seenFor = (userId: string) => upstream.seen.filter((s) => s.headers['x-user-id'] === userId);

test('past the credential budget, other spellings of login and register neither reach auth nor escape the budget', async (t) => {
  const auth = await standIn();
  t.teardown(() => auth.close());
  const gateway = await gatewayWith({ RATE_LIMIT_AUTH_MAX: '2' }, t, auth);
  const post = (path: string, headers: Record<string, string> = {}) =>
    fetch(`${gateway.base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{}' });
  for (let i = 0; i < 3; i++) await fetch(`${gateway.base}/api/auth/login`, { method: 'OPTIONS' }); // no login: not counted
  t.is((await post('/api/auth/login')).status, 200);
  t.is((await post('/api/auth/register')).status, 200);
  t.is((await post('/api/auth/login')).status, 429, 'the budget is spent');

  const token = { Authorization: `Bearer ${accessToken(randomUUID())}` };
  await fetch(`${gateway.base}/api/auth/me`, { headers: token }); // the gateway fetches the JWKS once, before the count starts
  const reachedBefore = auth.seen.length;
  const variants = ['/api/auth/login/', '/api/auth/Login', '/api/auth/LOGIN', '/API/auth/login', '/api/auth//login', '/api/auth/register/', '/api/auth/Register', '/api/auth/refresh/'];
  for (const path of variants) {
    const anonymous = await post(path);
    t.is(anonymous.status, 401, `${path} without a token`);
    const withToken = await post(path, token);
    t.is(withToken.status, 404, `${path} with a token`);
    t.is(((await withToken.json()) as { error: { code: string } }).error.code, 'not_found', path);
  }
  t.deepEqual(auth.seen.slice(reachedBefore).map((s) => s.url), [], 'no variant reached the auth service');
});

test('known routes reach their service exactly; anything else is the JSON 404 at the gateway', async (t) => {
  const gateway = await gatewayWith({}, t);
  const userId = randomUUID();
  const auth = { Authorization: `Bearer ${accessToken(userId)}` };
  const id = randomUUID();
  const known: Array<[string, string]> = [
    ['GET', '/api/files'],
    ['GET', `/api/files/${id}`],
    ['HEAD', `/api/files/${id}/content`],
    ['POST', `/api/files/${id}/restore`],
    ['PUT', `/api/files/${id}/shares/${randomUUID()}`],
    ['DELETE', `/api/shortcuts/${id}`],
    ['GET', `/api/uploads/s3/multipart/${'a'.repeat(32)}/batch?key=k&partNumbers=1`],
    ['PATCH', `/api/uploads/tus/${'b'.repeat(32)}`],
    ['GET', '/api/auth/me'],
  ];
  for (const [method, path] of known) {
    t.is((await fetch(`${gateway.base}${path}`, { method, headers: auth })).status, 200, `${method} ${path}`);
  }
  t.deepEqual(seenFor(userId).map((s) => `${s.method} ${s.url}`), known.map(([m, p]) => `${m} ${p}`));

  const unknown: Array<[string, string]> = [
    ['GET', '/api/files/'],
    ['GET', '/api/Files'],
    ['GET', `/api/files/${id}/content/extra`],
    ['GET', '/api/files/..'],
    ['DELETE', '/api/files'],
    ['GET', '/api/auth/login'],
    ['GET', '/api/uploads/tus'],
    ['GET', '/api/nope'],
    ['GET', '/metrics'],
  ];
  for (const [method, path] of unknown) {
    const response = await fetch(`${gateway.base}${path}`, { method, headers: auth });
    t.is(response.status, 404, `${method} ${path}`);
    t.is(((await response.json()) as { error: { code: string } }).error.code, 'not_found', `${method} ${path}`);
  }
  t.is(seenFor(userId).length, known.length, 'nothing unknown reached a service');

  // Part URLs are public in their exact form only: anything else under /parts needs a token.
  const part = `/api/uploads/parts/${'c'.repeat(32)}/7?expires=1&signature=x`;
  t.is((await fetch(`${gateway.base}${part}`, { method: 'PUT', body: 'x' })).status, 200);
  t.is(upstream.seen.filter((s) => s.url === part).length, 1);
  for (const path of ['/api/uploads/parts/not-an-id/7', `/api/uploads/parts/${'c'.repeat(32)}/x`, `/api/uploads/parts/${'C'.repeat(32)}/7`]) {
    t.is((await fetch(`${gateway.base}${path}`, { method: 'PUT', body: 'x' })).status, 401, path);
  }
});

/** The distinct `route` labels of the gateway's request counter. */
async function routeLabels(gateway: TestGateway): Promise<Set<string>> {
  const text = await (await fetch(`${gateway.metricsBase}/metrics`)).text();
  return new Set([...text.matchAll(/^http_requests_total\{[^}]*route="([^"]*)"/gm)].map((m) => m[1]!));
}

test('made-up paths add no route labels: every unknown path is counted as "unmatched"', async (t) => {
  const gateway = await gatewayWith({}, t);
  await fetch(`${gateway.base}/api/nothing-yet`);
  await new Promise((r) => setTimeout(r, 50));
  const before = await routeLabels(gateway);
  const words = ['api', 'auth', 'files', 'uploads', 'tus', 'login', 'me', 'public', 'content', 'shares'];
  for (let i = 0; i < 120; i++) {
    const path = `/api/${words[i % words.length]}/${Array.from({ length: 1 + (i % 7) }, (_, j) => words[(i + j * 3) % words.length]).join('/')}/x${i}`;
    await fetch(`${gateway.base}${path}`);
  }
  await new Promise((r) => setTimeout(r, 50));
  const after = await routeLabels(gateway);
  t.deepEqual([...after].filter((label) => !before.has(label)), [], 'no new label');
  t.true(after.has('unmatched'));
  t.true(after.size <= 3, `labels: ${[...after].join(', ')}`);
});

test('a known route is labelled by its pattern, never by its ids', async (t) => {
  const gateway = await gatewayWith({}, t);
  const auth = { Authorization: `Bearer ${accessToken(randomUUID())}` };
  for (let i = 0; i < 5; i++) await fetch(`${gateway.base}/api/files/${randomUUID()}/shares/${randomUUID()}`, { method: 'PUT', headers: auth });
  await new Promise((r) => setTimeout(r, 50));
  const labels = await routeLabels(gateway);
  t.true(labels.has('/api/files/:id/shares/:userId'));
  t.false([...labels].some((label) => /[0-9a-f]{8}-/.test(label)), [...labels].join(', '));
});

const FORGED_HOSTS = ['evil.example', 'evil.example/x?', 'evil.example:8080', '127.0.0.1:1@evil.example', 'localhost:1'];

/** The X-Forwarded-Host/Proto a service got for a request with this Host and other headers. */
async function forwardedFor(gateway: TestGateway, host: string, headers: Record<string, string> = {}) {
  const userId = randomUUID();
  const { status } = await send(gateway.port, 'GET', '/api/files', { host, authorization: `Bearer ${accessToken(userId)}`, ...headers });
  const seen = seenFor(userId).at(-1);
  return { status, host: seen?.headers['x-forwarded-host'], proto: seen?.headers['x-forwarded-proto'] };
}

test('by default, a forged Host never becomes the host of emitted URLs; loopback names at the gateway port keep theirs', async (t) => {
  const gateway = await gatewayWith({}, t);
  for (const host of FORGED_HOSTS) {
    t.like(await forwardedFor(gateway, host), { status: 200, host: `localhost:${gateway.port}`, proto: 'http' }, host);
  }
  for (const host of [`127.0.0.1:${gateway.port}`, `localhost:${gateway.port}`, `[::1]:${gateway.port}`]) {
    t.like(await forwardedFor(gateway, host), { host, proto: 'http' }, host);
  }
});

test('with PUBLIC_URL, a forged Host and a forged X-Forwarded-Host get the public origin, also behind a trusted proxy', async (t) => {
  for (const hops of ['0', '1']) {
    const gateway = await gatewayWith({ PUBLIC_URL: 'https://vault.example.com', TRUST_PROXY_HOPS: hops }, t);
    for (const host of FORGED_HOSTS) {
      t.like(await forwardedFor(gateway, host), { host: 'vault.example.com', proto: 'https' }, `hops ${hops}, Host ${host}`);
      t.like(await forwardedFor(gateway, 'vault.example.com', { 'x-forwarded-host': host, 'x-forwarded-proto': 'http' }), { host: 'vault.example.com' }, `hops ${hops}, X-Forwarded-Host ${host}`);
    }
    t.like(await forwardedFor(gateway, 'vault.example.com'), { host: 'vault.example.com', proto: 'https' }, 'its own host, https even when the TLS is terminated in front');
    t.like(await forwardedFor(gateway, `127.0.0.1:${gateway.port}`), { host: `127.0.0.1:${gateway.port}` }, 'the operator on the machine');
  }
});

test('PUBLIC_HOSTS names the hosts that keep their own origin; others get PUBLIC_URL', async (t) => {
  const gateway = await gatewayWith({ PUBLIC_URL: 'http://files.lan:8080', PUBLIC_HOSTS: 'files.lan:8080,192.168.1.5:8080' }, t);
  t.like(await forwardedFor(gateway, '192.168.1.5:8080'), { host: '192.168.1.5:8080' });
  t.like(await forwardedFor(gateway, 'Files.LAN:8080'), { host: 'files.lan:8080' });
  t.like(await forwardedFor(gateway, `localhost:${gateway.port}`), { host: 'files.lan:8080' }, 'loopback is not on an explicit list');
  t.like(await forwardedFor(gateway, 'evil.example'), { host: 'files.lan:8080', proto: 'http' });
});

test('behind a trusted proxy without PUBLIC_URL, the proxy names the host, but nothing that breaks out of a URL authority', async (t) => {
  const gateway = await gatewayWith({ TRUST_PROXY_HOPS: '1' }, t);
  t.like(await forwardedFor(gateway, 'x', { 'x-forwarded-host': 'vault.example.com', 'x-forwarded-proto': 'https' }), { host: 'vault.example.com', proto: 'https' });
  t.like(await forwardedFor(gateway, 'x', { 'x-forwarded-host': 'evil.example/x?', 'x-forwarded-proto': 'https' }), { host: `localhost:${gateway.port}`, proto: 'http' });
  t.like(await forwardedFor(gateway, 'x', { 'x-forwarded-host': 'vault.example.com', 'x-forwarded-proto': 'javascript' }), { proto: 'http' });
});

test('CORS: an Origin that only matches the forged Host is not our own', async (t) => {
  const gateway = await gatewayWith({}, t);
  const answer = await new Promise<Record<string, string | string[] | undefined>>((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: gateway.port, method: 'OPTIONS', path: '/api/files', headers: { host: 'evil.example', origin: 'http://evil.example', 'access-control-request-method': 'GET' } },
      (res) => (res.resume(), resolve(res.headers)),
    );
    req.on('error', reject);
    req.end();
  });
  t.is(answer['access-control-allow-origin'], undefined);
});

test('/metrics is served on the metrics port only; /healthz and /readyz on both', async (t) => {
  const gateway = await gatewayWith({}, t);
  const onPublic = await fetch(`${gateway.base}/metrics`);
  t.is(onPublic.status, 401, 'an anonymous request to a non-public path');
  t.notRegex(await onPublic.text(), /http_requests_total|127\.0\.0\.1/);
  const withToken = await fetch(`${gateway.base}/metrics`, { headers: { Authorization: `Bearer ${accessToken(randomUUID())}` } });
  t.is(withToken.status, 404);
  const operator = await fetch(`${gateway.metricsBase}/metrics`);
  t.is(operator.status, 200);
  t.regex(await operator.text(), /circuit_breaker_open\{/);
  for (const base of [gateway.base, gateway.metricsBase]) {
    t.is((await fetch(`${base}/healthz`)).status, 200, `${base}/healthz`);
    t.is((await fetch(`${base}/readyz`)).status, 200, `${base}/readyz`);
  }
  t.is((await fetch(`${gateway.metricsBase}/api/files`)).status, 404, 'the metrics port routes nothing to the services');
});

test('a request with two Host header lines is a JSON 400 and reaches no service (RFC 9112 §3.2)', async (t) => {
  const own = await standIn();
  t.teardown(() => own.close());
  const gateway = await gatewayWith({}, t, own);
  const reached = () => own.seen.filter((s) => s.url === '/api/files').length;
  const before = reached();
  for (const hosts of [['127.0.0.1', 'evil.example'], ['127.0.0.1', '127.0.0.1']]) {
    const connection = await RawConnection.open(gateway.port);
    t.teardown(() => connection.destroy());
    connection.write(`GET /api/files HTTP/1.1\r\n${hosts.map((h) => `Host: ${h}\r\n`).join('')}Authorization: Bearer ${accessToken(randomUUID())}\r\n\r\n`);
    const answer = await connection.response();
    t.is(answer?.status, 400, hosts.join(' + '));
    t.is((JSON.parse(answer!.body) as { error: { code: string } }).error.code, 'validation_failed');
  }
  const single = await send(gateway.port, 'GET', '/api/files', { host: '127.0.0.1', authorization: `Bearer ${accessToken(randomUUID())}` });
  t.is(single.status, 200, 'one Host passes');
  t.is(reached(), before + 1, 'only the request with one Host reached a service');
});
