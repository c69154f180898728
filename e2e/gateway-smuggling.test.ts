import test from 'ava';
import { RawConnection, rawRequest, type RawResponse } from '../server/gateway/test/raw-http.ts';
import { getJson, registerAndLogin, type TestUser } from './client.ts';
import { startCluster, type Cluster } from './cluster.ts';
import { availableModes } from './system.ts';

/**
 * The attacks of issue 11 on the gateway's connection handling, replayed byte for byte
 * over raw sockets against the real processes: request smuggling through a bodiless
 * method's Content-Length, client aborts that opened the breakers for everyone, and slow
 * clients that starved everyone. The gateway runs with small client limits, so that a
 * few hundred sockets show what 530 did on the live system.
 */
const LIMITS = {
  GATEWAY_UPSTREAM_MAX_SOCKETS: '48',
  GATEWAY_MAX_INFLIGHT_PER_IP: '16',
  GATEWAY_MAX_CONNECTIONS_PER_IP: '32',
  GATEWAY_BODY_IDLE_TIMEOUT_SECONDS: '3',
  GATEWAY_HEADERS_TIMEOUT_SECONDS: '3',
};

const clusters: Cluster[] = [];
test.after.always(async () => {
  for (const cluster of clusters) await cluster.stop();
});

const portOf = (cluster: Cluster) => Number(new URL(cluster.baseUrl).port);

/** Sends each request on one connection, waiting for each answer as a browser would. */
async function oneByOne(cluster: Cluster, requests: string[]): Promise<Array<RawResponse | undefined>> {
  const connection = await RawConnection.open(portOf(cluster));
  const answers: Array<RawResponse | undefined> = [];
  try {
    for (const request of requests) {
      connection.write(request);
      answers.push(await connection.response());
    }
  } finally {
    connection.destroy();
  }
  return answers;
}

/**
 * The live attack: an OPTIONS (public, no token) with content as long as
 * `OPTIONS /api/auth/me HTTP/1.1\r\nx-a: `. A gateway that forwards the Content-Length
 * but not the content makes the service take that much of the next request on the same
 * upstream connection as this one's content, and find `GET <target> HTTP/1.1` where the
 * next request's first header was, followed by that request's internal token.
 */
function smuggling(target: string): string {
  const swallowed = Buffer.byteLength('OPTIONS /api/auth/me HTTP/1.1\r\nx-a: ');
  return rawRequest('OPTIONS', '/api/auth/me', [
    ['x-a', `GET ${target} HTTP/1.1`],
    ['Host', 'gateway'],
    ['Content-Length', String(swallowed)],
  ], 'z'.repeat(swallowed));
}

async function assertNoLeak(t: import('ava').ExecutionContext, cluster: Cluster, victim: TestUser, target: string) {
  const answers = await oneByOne(cluster, [smuggling(target), smuggling(target), smuggling(target)]);
  t.true(answers.every((a) => a !== undefined), 'every request got its answer');
  for (const answer of answers) t.false(answer!.body.includes(victim.email), `leaked: ${answer!.status} ${answer!.body}`);
  t.is(new Set(answers.map((a) => a!.status)).size, 1, `the same request answered differently: ${answers.map((a) => a!.status).join(',')}`);
  // Another user's plain request right after, on another connection, gets its own normal answer.
  const other = await registerAndLogin(cluster.baseUrl);
  const me = await getJson<{ email: string }>(`${cluster.baseUrl}/api/auth/me`, other.auth);
  t.is(me.status, 200);
  t.is(me.body.email, other.email);
}

for (const mode of availableModes()) {
  let started: Promise<Cluster> | undefined;
  const clusterOf = () => (started ??= startCluster(mode, { serviceEnv: { gateway: LIMITS } }).then((c) => (clusters.push(c), c)));

  test.serial(`${mode}: an OPTIONS with a Content-Length and a smuggled GET /internal/users/<id> line gets no user's email`, async (t) => {
    const cluster = await clusterOf();
    const victim = await registerAndLogin(cluster.baseUrl);
    await assertNoLeak(t, cluster, victim, `/internal/users/${victim.id}`);
  });

  test.serial(`${mode}: the same with /internal/users?email= gets no user either`, async (t) => {
    const cluster = await clusterOf();
    const victim = await registerAndLogin(cluster.baseUrl);
    await assertNoLeak(t, cluster, victim, `/internal/users?email=${encodeURIComponent(victim.email)}`);
  });

  test.serial(`${mode}: content sent on a GET is dropped at the gateway, and the connection goes on in step`, async (t) => {
    const cluster = await clusterOf();
    const user = await registerAndLogin(cluster.baseUrl);
    const inner = rawRequest('GET', `/internal/users/${user.id}`, [['Host', 'x']]);
    const [first, second] = await oneByOne(cluster, [
      rawRequest('GET', '/api/auth/me', [['Host', 'gateway'], ['Authorization', user.auth.Authorization], ['Content-Length', String(inner.length)]], inner),
      rawRequest('GET', '/api/auth/me', [['Host', 'gateway'], ['Authorization', user.auth.Authorization]]),
    ]);
    t.is(first?.status, 200);
    t.is(second?.status, 200);
    t.is((JSON.parse(second!.body) as { email: string }).email, user.email);
  });

  test.serial(`${mode}: framing the gateway cannot trust is a JSON 400 and a closed connection`, async (t) => {
    const cluster = await clusterOf();
    const user = await registerAndLogin(cluster.baseUrl);
    const conflicting: Array<Array<[string, string]>> = [
      [['Content-Length', '5'], ['Transfer-Encoding', 'chunked']],
      [['Transfer-Encoding', 'gzip']],
      [['Content-Length', '5'], ['Content-Length', '6']],
    ];
    for (const framing of conflicting) {
      const connection = await RawConnection.open(portOf(cluster));
      connection.write(rawRequest('POST', '/api/shortcuts', [['Host', 'gateway'], ['Authorization', user.auth.Authorization], ...framing], '0\r\n\r\n'));
      const answer = await connection.response();
      t.is(answer?.status, 400, JSON.stringify(framing));
      t.is((JSON.parse(answer!.body) as { error: { code: string } }).error.code, 'validation_failed');
      await connection.closed;
      connection.destroy();
    }
  });

  test.serial(`${mode}: eight POSTs cut by their client and six cut tus PATCHes open no breaker: other users are served`, async (t) => {
    const cluster = await clusterOf();
    const attacker = await registerAndLogin(cluster.baseUrl);
    const other = await registerAndLogin(cluster.baseUrl);
    for (let i = 0; i < 8; i++) {
      const connection = await RawConnection.open(portOf(cluster));
      connection.write(rawRequest('POST', '/api/shortcuts', [['Host', 'gateway'], ['Authorization', attacker.auth.Authorization], ['Content-Type', 'application/json'], ['Content-Length', '100']], '{'));
      await new Promise((r) => setTimeout(r, 100));
      connection.destroy();
    }
    for (let i = 0; i < 3; i++) t.is((await fetch(`${cluster.baseUrl}/api/files`, { headers: other.auth })).status, 200);

    const created = await fetch(`${cluster.baseUrl}/api/uploads/tus`, {
      method: 'POST',
      headers: { ...attacker.auth, 'Tus-Resumable': '1.0.0', 'Upload-Length': String(1024 * 1024), 'Upload-Metadata': `filename ${Buffer.from('cut.bin').toString('base64')}` },
    });
    t.is(created.status, 201);
    const path = new URL(created.headers.get('location')!).pathname;
    for (let i = 0; i < 6; i++) {
      const offset = Number((await fetch(`${cluster.baseUrl}${path}`, { method: 'HEAD', headers: { ...attacker.auth, 'Tus-Resumable': '1.0.0' } })).headers.get('upload-offset'));
      const connection = await RawConnection.open(portOf(cluster));
      connection.write(
        rawRequest('PATCH', path, [
          ['Host', 'gateway'],
          ['Authorization', attacker.auth.Authorization],
          ['Tus-Resumable', '1.0.0'],
          ['Upload-Offset', String(offset)],
          ['Content-Type', 'application/offset+octet-stream'],
          ['Content-Length', String(1024 * 1024 - offset)],
        ]),
      );
      connection.write(Buffer.alloc(16 * 1024, 1));
      await new Promise((r) => setTimeout(r, 200));
      connection.destroy();
      await new Promise((r) => setTimeout(r, 200));
    }
    const upload = await fetch(`${cluster.baseUrl}/api/uploads/tus`, {
      method: 'POST',
      headers: { ...other.auth, 'Tus-Resumable': '1.0.0', 'Upload-Length': '10', 'Upload-Metadata': `filename ${Buffer.from('fine.bin').toString('base64')}` },
    });
    t.is(upload.status, 201);
  });

  test.serial(`${mode}: a hundred and twenty slow clients on one address leave another user answered at once`, async (t) => {
    const cluster = await clusterOf();
    const attacker = await registerAndLogin(cluster.baseUrl);
    const other = await registerAndLogin(cluster.baseUrl);
    const sockets = await Promise.all(
      Array.from({ length: 120 }, () => RawConnection.open(portOf(cluster), '127.0.0.2').catch(() => undefined)),
    );
    t.teardown(() => sockets.forEach((s) => s?.destroy()));
    for (const socket of sockets) {
      socket?.write(rawRequest('POST', '/api/shortcuts', [['Host', 'gateway'], ['Authorization', attacker.auth.Authorization], ['Content-Type', 'application/json'], ['Content-Length', '100']], '{'));
    }
    await new Promise((r) => setTimeout(r, 1_000)); // every slow request has reached the proxy
    const started = Date.now();
    const response = await fetch(`${cluster.baseUrl}/api/files?limit=1`, { headers: other.auth, signal: AbortSignal.timeout(10_000) });
    const waited = Date.now() - started;
    t.is(response.status, 200);
    t.true(waited < 1_500, `answered after ${waited} ms`);

    // What the slow ones got: closed over the connection cap, 429 over the in-flight cap, 408 when silent.
    const answers = await Promise.all(sockets.map((s) => (s ? s.response({ timeoutMs: 8_000 }).catch(() => undefined) : undefined)));
    const statuses = answers.map((a) => a?.status ?? 'closed');
    const count = (s: number | string) => statuses.filter((x) => x === s).length;
    t.log(`slow clients: ${count('closed')} closed, ${count(429)} × 429, ${count(408)} × 408`);
    t.true(count('closed') >= 120 - 32, statuses.join(','));
    t.is(count(429), 16);
    t.is(count(408), 16);
    t.is(count(408) + count(429) + count('closed'), 120);
  });
}
