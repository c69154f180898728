import { createHash, createHmac, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import test from 'ava';
import jwt from 'jsonwebtoken';
import { InternalTokenVerifier, createLogger, freePort, listen, type RunningServer } from '@govault/lib';
import { buildGatewayApp } from '../src/app.ts';
import { gatewayConfigSchema } from '../src/config.ts';
import { RawConnection, rawRequest } from './raw-http.ts';
import { accessToken, keys, kid, publicKeyPem, standIn } from './support.ts';

/**
 * The gateway against stand-in upstreams: real HTTP servers that record what reached
 * them. The whole system with the real services is proven in e2e/.
 */
/** An upstream that answers like a service that sets its own CORS header, which the gateway must replace. */
const upstream = () =>
  standIn((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'access-control-allow-origin': '*' }).end(JSON.stringify({ ok: true }));
  });

let auth: Awaited<ReturnType<typeof upstream>>;
let files: Awaited<ReturnType<typeof upstream>>;
let gateway: RunningServer;
let base: string;
const deadPort = await freePort();

test.before(async () => {
  auth = await upstream();
  files = await upstream();
  const config = gatewayConfigSchema.parse({
    GATEWAY_PORT: '0',
    AUTH_URL: auth.url,
    FILES_URL: files.url,
    UPLOAD_URL: `http://127.0.0.1:${deadPort}`,
    INTERNAL_KEY_DIR: keys.dir,
    UPSTREAM_RETRY_SECONDS: '3',
    LOG_LEVEL: 'silent',
  });
  gateway = await listen(buildGatewayApp(config, createLogger('gateway', 'silent')).app, '127.0.0.1', 0);
  base = `http://127.0.0.1:${gateway.port}`;
});

test.after.always(async () => {
  await gateway?.close();
  await auth?.close();
  await files?.close();
});

test.serial('an authenticated request reaches its service with a verifiable internal token bound to the user', async (t) => {
  const userId = randomUUID();
  const response = await fetch(`${base}/api/files?view=owned`, { headers: { Authorization: `Bearer ${accessToken(userId)}` } });
  t.is(response.status, 200);
  const seen = files.seen.at(-1)!;
  t.is(seen.url, '/api/files?view=owned', 'the path is not rewritten');
  t.is(seen.headers['x-user-id'], userId);
  const claims = InternalTokenVerifier.fromKeyDir(keys.dir, 'files').verify(String(seen.headers['x-internal-token']), ['gateway']);
  t.is(claims.userId, userId);
  t.is(seen.headers.authorization, undefined, "the user's access token stays at the gateway");
});

test.serial('an absolute-form request target reaches the configured instance, never the host it names', async (t) => {
  const elsewhere = await upstream();
  t.teardown(() => elsewhere.close());
  const before = files.seen.length;
  // fetch always sends origin-form; a raw request line can name any host.
  const answer = await new Promise<string>((resolve, reject) => {
    const socket = connect(gateway.port, '127.0.0.1', () => {
      socket.write(`GET http://127.0.0.1:${elsewhere.port}/api/files?view=owned HTTP/1.1\r\nHost: 127.0.0.1:${elsewhere.port}\r\nAuthorization: Bearer ${accessToken(randomUUID())}\r\nConnection: close\r\n\r\n`);
    });
    let text = '';
    socket.on('data', (chunk) => (text += chunk));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
  t.regex(answer, /^HTTP\/1\.1 200/);
  t.is(elsewhere.seen.length, 0, 'the named host saw nothing');
  t.is(files.seen.length, before + 1, 'the files instance answered');
  t.is(files.seen.at(-1)!.url, '/api/files?view=owned');
});

/**
 * Every identity and forwarding header a client could forge, in several spellings and
 * twice where a proxy might join or pick one: names in mixed case are the same header
 * (RFC 9110 §5.1), and Node joins repeated unknown headers with ", ".
 */
const forged: Array<[string, string]> = [
  ['X-User-Id', 'someone-else'],
  ['x-user-id', '00000000-0000-4000-8000-000000000000'],
  ['X-USER-ROLE', 'admin'],
  ['X-Internal-Token', 'forged'],
  ['x-INTERNAL-token', 'forged-again'],
  ['X-Internal-Caller', 'upload'],
  ['X-GoVault-User', 'admin'],
  ['x-govault-internal', '1'],
  ['X-Forwarded-For', '203.0.113.66'],
  ['x-forwarded-for', '198.51.100.7, 10.0.0.1'],
  ['X-Forwarded-Host', 'evil.example'],
  ['X-FORWARDED-HOST', 'evil2.example'],
  ['X-Forwarded-Proto', 'https'],
  ['X-Forwarded-Prefix', '/evil'],
  ['X-Forwarded-Port', '443'],
  ['Forwarded', 'for=203.0.113.66;host=evil.example;proto=https'],
];

/** A request written byte for byte (fetch will not send a forged Host nor repeat a header), and what the service received. */
async function throughGateway(path: string, method: string, headers: Array<[string, string]>, content = '') {
  const connection = await RawConnection.open(gateway.port);
  connection.write(rawRequest(method, path, [...headers, ['Connection', 'close']], content));
  const response = await connection.response();
  connection.destroy();
  return response;
}

/** The headers a service received, with its internal token replaced by what the token vouches for. */
function received(seen: { headers: Record<string, unknown> }, service: string) {
  const { 'x-internal-token': token, ...rest } = seen.headers;
  const claims = InternalTokenVerifier.fromKeyDir(keys.dir, service).verify(String(token), ['gateway']);
  return { ...rest, 'x-internal-token': { caller: claims.caller, userId: claims.userId } };
}

test.serial('client-sent identity and forwarding headers never reach a service, whatever their spelling, case or count', async (t) => {
  const hosts: Array<[string, string]> = [
    ['evil.example', `localhost:${gateway.port}`], // a forged Host: the gateway's own fallback origin
    [`127.0.0.1:${gateway.port}`, `127.0.0.1:${gateway.port}`], // a loopback name of the gateway keeps its origin, never reaches a service as Host
  ];
  for (const [host, expectedForwardedHost] of hosts) {
    const userId = randomUUID();
    const requestId = `forged-${randomUUID()}`;
    const response = await throughGateway('/api/files?view=owned', 'GET', [
      ['Host', host],
      ['Authorization', `Bearer ${accessToken(userId)}`],
      ['X-Request-Id', requestId],
      ...forged,
    ]);
    t.is(response?.status, 200, host);
    const seen = files.seen.at(-1)!;
    t.is(seen.url, '/api/files?view=owned');
    t.deepEqual(
      received(seen, 'files'),
      {
        host: `127.0.0.1:${files.port}`,
        connection: 'keep-alive',
        'x-request-id': requestId,
        'x-user-id': userId,
        'x-internal-token': { caller: 'gateway', userId },
        'x-forwarded-for': '127.0.0.1',
        'x-forwarded-host': expectedForwardedHost,
        'x-forwarded-proto': 'http',
        'x-forwarded-prefix': '/',
      },
      `Host ${host}`,
    );
  }

  // A public route: no user at all, however many the client names.
  const login = await throughGateway(
    '/api/auth/login',
    'POST',
    [['Host', 'evil.example'], ['Content-Type', 'application/json'], ['Content-Length', '2'], ...forged],
    '{}',
  );
  t.is(login?.status, 200);
  const seen = auth.seen.at(-1)!;
  t.is(seen.url, '/api/auth/login');
  const { 'x-request-id': requestId, ...rest } = received(seen, 'auth') as Record<string, unknown>;
  t.regex(String(requestId), /^[0-9a-f-]{36}$/, 'an id the gateway made');
  t.deepEqual(rest, {
    host: `127.0.0.1:${auth.port}`,
    connection: 'keep-alive',
    'content-type': 'application/json',
    'content-length': '2',
    'x-internal-token': { caller: 'gateway', userId: undefined },
    'x-forwarded-for': '127.0.0.1',
    'x-forwarded-host': `localhost:${gateway.port}`,
    'x-forwarded-proto': 'http',
    'x-forwarded-prefix': '/',
  });
});

test.serial('requests without a usable access token get 401 and never reach the service', async (t) => {
  const before = files.seen.length;
  const userId = randomUUID();
  const cases: Record<string, string | undefined> = {
    missing: undefined,
    garbage: 'Bearer not-a-token',
    expired: `Bearer ${accessToken(userId, { expiresIn: -10 })}`,
    'wrong audience': `Bearer ${accessToken(userId, { audience: 'elsewhere' })}`,
    'unknown kid': `Bearer ${accessToken(userId, { keyid: 'nope' })}`,
    'alg none': `Bearer ${jwt.sign({ typ: 'access', sub: userId }, null, { algorithm: 'none' })}`,
    'HS256 with the public key': `Bearer ${hs256WithPublicKey(userId)}`,
  };
  for (const [name, authorization] of Object.entries(cases)) {
    const response = await fetch(`${base}/api/files`, { headers: authorization ? { Authorization: authorization } : {} });
    t.is(response.status, 401, name);
    const body = (await response.json()) as { error: { code: string; requestId: string } };
    t.is(body.error.code, 'unauthenticated', name);
    t.truthy(body.error.requestId, name);
  }
  t.is(files.seen.length, before);
});

test.serial('public routes need no token', async (t) => {
  const response = await fetch(`${base}/api/auth/login`, { method: 'POST', body: '{}' });
  t.is(response.status, 200);
  t.is(auth.seen.at(-1)!.url, '/api/auth/login');
  t.is(auth.seen.at(-1)!.headers['x-user-id'], undefined);
});

test.serial('request bodies stream through unchanged', async (t) => {
  const body = new Uint8Array(8 * 1024 * 1024).map((_, i) => (i * 7) % 251);
  const response = await fetch(`${base}/api/files/x`, {
    method: 'PATCH',
    headers: { Authorization: `Bearer ${accessToken(randomUUID())}`, 'content-type': 'application/offset+octet-stream' },
    body,
  });
  t.is(response.status, 200);
  const seen = files.seen.at(-1)!;
  t.is(seen.bodyBytes, body.length);
  t.is(seen.bodySha256, createHash('sha256').update(body).digest('hex'));
});

test.serial('unknown routes answer the JSON 404, internal and operational paths of services are not routed', async (t) => {
  const token = { Authorization: `Bearer ${accessToken(randomUUID())}` };
  for (const path of ['/api/nope', '/internal/files', '/api/../internal/users']) {
    const response = await fetch(`${base}${path}`, { headers: token });
    t.is(response.status, 404, path);
    t.is(((await response.json()) as { error: { code: string } }).error.code, 'not_found');
  }
});

test.serial('a dead upload service: 503 with Retry-After after a bounded wait (UPSTREAM_RETRY_SECONDS) for a request it never saw', async (t) => {
  const token = { Authorization: `Bearer ${accessToken(randomUUID())}`, 'Tus-Resumable': '1.0.0' };
  for (const method of ['POST', 'HEAD']) {
    const started = Date.now();
    const response = await fetch(`${base}/api/uploads/tus${method === 'HEAD' ? '/abc' : ''}`, { method, headers: token });
    const waited = Date.now() - started;
    t.is(response.status, 503, method);
    t.is(response.headers.get('retry-after'), '5');
    if (method === 'POST') t.is(((await response.json()) as { error: { code: string } }).error.code, 'upstream_unavailable');
    t.true(waited >= 2_000 && waited < 6_000, `${method} waited ${waited} ms for the upstream (3 s allowed)`);
  }
});

test.serial('an idempotent request waits for an upstream that comes back', async (t) => {
  const port = await freePort();
  const late = createServer((_req, res) => res.writeHead(200, { 'upload-offset': '42' }).end());
  const config = gatewayConfigSchema.parse({
    GATEWAY_PORT: '0',
    AUTH_URL: auth.url,
    FILES_URL: files.url,
    UPLOAD_URL: `http://127.0.0.1:${port}`,
    INTERNAL_KEY_DIR: keys.dir,
    UPSTREAM_RETRY_SECONDS: '5',
  });
  const restarting = await listen(buildGatewayApp(config, createLogger('gateway', 'silent')).app, '127.0.0.1', 0);
  t.teardown(() => {
    late.close();
    return restarting.close();
  });
  setTimeout(() => late.listen(port, '127.0.0.1'), 1_000);
  const head = await fetch(`http://127.0.0.1:${restarting.port}/api/uploads/tus/abc`, {
    method: 'HEAD',
    headers: { Authorization: `Bearer ${accessToken(randomUUID())}` },
  });
  t.is(head.status, 200);
  t.is(head.headers.get('upload-offset'), '42');
});

test.serial('CORS: preflights for tus are answered for allowed origins only, and tus headers are exposed', async (t) => {
  const own = await fetch(`${base}/api/uploads/tus`, {
    method: 'OPTIONS',
    headers: {
      Origin: base,
      'Access-Control-Request-Method': 'PATCH',
      'Access-Control-Request-Headers': 'tus-resumable,upload-offset,content-type,authorization',
    },
  });
  t.is(own.headers.get('access-control-allow-origin'), base);
  t.regex(own.headers.get('access-control-allow-methods') ?? '', /PATCH/);
  const foreign = await fetch(`${base}/api/files`, {
    headers: { Origin: 'https://evil.example', Authorization: `Bearer ${accessToken(randomUUID())}` },
  });
  t.is(foreign.headers.get('access-control-allow-origin'), null);
  const same = await fetch(`${base}/api/files`, { headers: { Origin: base, Authorization: `Bearer ${accessToken(randomUUID())}` } });
  t.is(same.headers.get('access-control-allow-origin'), base, "the upstream's own CORS header is replaced by the gateway's");
  t.regex(same.headers.get('access-control-expose-headers') ?? '', /Upload-Offset.*GoVault-File-Id.*GoVault-Registration-Error/);
});

/** The classic confusion attack: an HMAC token whose secret is the verifier's public key. */
function hs256WithPublicKey(userId: string): string {
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const unsigned = `${encode({ alg: 'HS256', typ: 'JWT', kid })}.${encode({ typ: 'access', sub: userId, iss: 'govault-auth', aud: 'govault-api', iat: now, exp: now + 60 })}`;
  return `${unsigned}.${createHmac('sha256', publicKeyPem).update(unsigned).digest('base64url')}`;
}
