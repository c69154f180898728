import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import test from 'ava';
import jwt from 'jsonwebtoken';
import { generateEcKeyPair } from '@govault/lib';
import { requireRealServices } from '@govault/lib/testing';
import { MemoryRateLimitStore, type RateLimitStore } from '../src/rate-limit/rate-limit-store.ts';
import { RedisRateLimitStore } from '../src/rate-limit/redis-rate-limit-store.ts';
import { accessToken, kid, metricValue, standIn, startGateway, type StandIn, type TestGateway } from './support.ts';
import { TcpLink } from './tcp-link.ts';

/**
 * The rate limit through a real gateway over HTTP, in both stores. Redis runs when
 * REDIS_URL is set (CI sets it); every test uses its own key prefix, since one Redis
 * serves every run on the machine. Whom a request is counted for (a verified user, or
 * its address), and what the limiter does when Redis fails: that Redis is reached
 * through a relay the test cuts or stalls, never the shared server itself.
 */
const redisUrl = process.env.REDIS_URL;
if (!redisUrl && requireRealServices) throw new Error('REDIS_URL must be set when GOVAULT_REQUIRE_REAL_SERVICES=1');
if (!redisUrl) console.warn('gateway: Redis rate-limit store not tested here (REDIS_URL not set)');

// A long window: a test never straddles the clock-aligned window boundary by accident.
const WINDOW = '3600';
let upstream: StandIn;
test.before(async () => {
  upstream = await standIn();
});
test.after.always(() => upstream?.close());

async function gatewayWith(env: Record<string, string | undefined>, t: { teardown(fn: () => Promise<void>): void }): Promise<TestGateway> {
  const gateway = await startGateway({
    AUTH_URL: upstream.url,
    FILES_URL: upstream.url,
    UPLOAD_URL: upstream.url,
    RATE_LIMIT_WINDOW_SECONDS: WINDOW,
    RATE_LIMIT_PREFIX: `govault-test:${randomUUID()}:`,
    LOG_LEVEL: 'silent',
    ...env,
  });
  t.teardown(() => gateway.close());
  return gateway;
}

const asUser = (userId: string) => ({ Authorization: `Bearer ${accessToken(userId)}` });

/** An access token for `userId` that looks right in every claim and header but is signed with a key auth never had. */
const attackerKey = generateEcKeyPair().privateKey;
const forgedFor = (userId: string) => ({
  Authorization: `Bearer ${jwt.sign({ typ: 'access' }, attackerKey, { algorithm: 'ES256', keyid: kid, issuer: 'govault-auth', audience: 'govault-api', subject: userId, expiresIn: 60 })}`,
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  code?: string;
}

/**
 * A request from a given loopback address (on Linux every 127.x.y.z is this machine), so
 * one test can be several clients: fetch cannot choose its source address.
 */
function requestFrom(localAddress: string, base: string, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, localAddress, headers, agent: false, timeout: 10_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        let code: string | undefined;
        try {
          code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
        } catch {
          code = undefined;
        }
        resolve({ status: res.statusCode!, headers: res.headers, code });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer to ${path} within 10 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

const getFrom = (localAddress: string, base: string, path: string, headers: Record<string, string> = {}) => requestFrom(localAddress, base, 'GET', path, headers);

const stores: Array<[string, Record<string, string | undefined>]> = [['memory', { REDIS_URL: undefined }]];
if (redisUrl) stores.push(['redis', { REDIS_URL: redisUrl }]);

for (const [store, storeEnv] of stores) {
  test(`${store}: the N+1th request of a user in a window gets 429 with Retry-After; other users keep their budget`, async (t) => {
    const gateway = await gatewayWith({ ...storeEnv, RATE_LIMIT_MAX: '3' }, t);
    const alice = randomUUID();
    const remaining: string[] = [];
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${gateway.base}/api/files`, { headers: asUser(alice) });
      t.is(response.status, 200);
      t.is(response.headers.get('ratelimit-limit'), '3');
      remaining.push(response.headers.get('ratelimit-remaining')!);
    }
    t.deepEqual(remaining, ['2', '1', '0']);
    const seenOfAlice = () => upstream.seen.filter((s) => s.headers['x-user-id'] === alice).length;
    const seenBefore = seenOfAlice();
    const limited = await fetch(`${gateway.base}/api/files`, { headers: asUser(alice) });
    t.is(limited.status, 429);
    const retryAfter = Number(limited.headers.get('retry-after'));
    t.true(retryAfter >= 1 && retryAfter <= Number(WINDOW), `Retry-After ${retryAfter}`);
    t.is(limited.headers.get('ratelimit-remaining'), '0');
    t.is(((await limited.json()) as { error: { code: string } }).error.code, 'rate_limited');
    t.is(seenOfAlice(), seenBefore, 'a limited request never reaches the service');

    t.is((await fetch(`${gateway.base}/api/files`, { headers: asUser(randomUUID()) })).status, 200, 'another user is not limited');
    t.is(await metricValue(gateway.base, 'rate_limited_requests_total', { rule: 'api' }), 1);
  });

  test(`${store}: anonymous requests are limited per client IP, and login/register have their own stricter budget`, async (t) => {
    const gateway = await gatewayWith({ ...storeEnv, RATE_LIMIT_MAX: '2', RATE_LIMIT_AUTH_MAX: '1' }, t);
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await fetch(`${gateway.base}/api/public/files/${randomUUID()}`)).status);
    t.deepEqual(statuses, [200, 200, 429]);

    const login = () => fetch(`${gateway.base}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    t.is((await login()).status, 200);
    const second = await login();
    t.is(second.status, 429);
    t.truthy(second.headers.get('retry-after'));
    const register = await fetch(`${gateway.base}/api/auth/register`, { method: 'POST', body: '{}' });
    t.is(register.status, 429, 'register shares the credentials budget of the IP');
  });

  test(`${store}: a forged token naming another user spends the forger's address budget, never that user's`, async (t) => {
    const gateway = await gatewayWith({ ...storeEnv, RATE_LIMIT_MAX: '3' }, t);
    const victim = randomUUID();
    const forger = '127.0.0.2';
    const forged: Answer[] = [];
    for (let i = 0; i < 5; i++) forged.push(await getFrom(forger, gateway.base, '/api/files', forgedFor(victim)));
    t.deepEqual(
      forged.map((a) => `${a.status} ${a.code}`),
      ['401 unauthenticated', '401 unauthenticated', '401 unauthenticated', '429 rate_limited', '429 rate_limited'],
      "the forger's address has the anonymous budget of 3",
    );
    t.deepEqual(forged.map((a) => a.headers['ratelimit-remaining']), ['2', '1', '0', '0', '0']);
    t.is(upstream.seen.filter((s) => s.headers['x-user-id'] === victim).length, 0, 'no forged request reached a service');

    // The victim, even from the forger's own address, still has every request of the window.
    const own: Answer[] = [];
    for (let i = 0; i < 4; i++) own.push(await getFrom(forger, gateway.base, '/api/files', asUser(victim)));
    t.deepEqual(own.map((a) => a.status), [200, 200, 200, 429]);
    t.deepEqual(own.map((a) => a.headers['ratelimit-remaining']), ['2', '1', '0', '0']);

    // Another address is another anonymous budget.
    t.is((await getFrom('127.0.0.3', gateway.base, '/api/files', forgedFor(victim))).status, 401);
  });

  test(`${store}: a flood of bad tokens from one address is answered 401, then 429 with Retry-After, and leaves other addresses alone`, async (t) => {
    const gateway = await gatewayWith({ ...storeEnv, RATE_LIMIT_MAX: '5' }, t);
    const flood = [
      ...Array.from({ length: 5 }, () => ({ Authorization: 'Bearer not.a.token' })),
      ...Array.from({ length: 5 }, () => forgedFor(randomUUID())),
      ...Array.from({ length: 5 }, () => ({ Authorization: `Bearer ${accessToken(randomUUID(), { expiresIn: -10 })}` })),
    ];
    const answers: Answer[] = [];
    for (const headers of flood) answers.push(await getFrom('127.0.0.4', gateway.base, `/api/files/${randomUUID()}`, headers));
    t.deepEqual(answers.map((a) => a.status), [...Array(5).fill(401), ...Array(10).fill(429)]);
    t.true(answers.slice(0, 5).every((a) => a.code === 'unauthenticated'));
    for (const limited of answers.slice(5)) {
      t.is(limited.code, 'rate_limited');
      const retryAfter = Number(limited.headers['retry-after']);
      t.true(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= Number(WINDOW), `Retry-After ${limited.headers['retry-after']}`);
    }
    t.is(await metricValue(gateway.base, 'rate_limited_requests_total', { rule: 'api' }), 10);
    const neighbour = await getFrom('127.0.0.5', gateway.base, '/api/files', { Authorization: 'Bearer not.a.token' });
    t.is(neighbour.status, 401, 'another address still gets its own answer');
    t.is(neighbour.headers['ratelimit-remaining'], '4');

    // Bad refresh tokens: the stricter credential budget of the address. This auth stand-in refuses every refresh.
    const auth = await standIn((_req, res) => {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'unauthenticated', message: 'Invalid refresh token' } }));
    });
    t.teardown(() => auth.close());
    const credentials = await gatewayWith({ ...storeEnv, AUTH_URL: auth.url, RATE_LIMIT_AUTH_MAX: '3' }, t);
    const refresh = () =>
      requestFrom('127.0.0.4', credentials.base, 'POST', '/api/auth/refresh', { 'content-type': 'application/json' }, JSON.stringify({ refreshToken: randomUUID() }));
    const refreshes: Answer[] = [];
    for (let i = 0; i < 6; i++) refreshes.push(await refresh());
    t.deepEqual(refreshes.map((a) => `${a.status} ${a.code}`), [...Array(3).fill('401 unauthenticated'), ...Array(3).fill('429 rate_limited')]);
    t.true(refreshes.slice(3).every((a) => Number(a.headers['retry-after']) >= 1), 'each 429 says when to come back');
    t.is(auth.seen.filter((s) => s.url === '/api/auth/refresh').length, 3, 'limited refreshes never reach auth');
    t.is(await metricValue(credentials.base, 'rate_limited_requests_total', { rule: 'credentials' }), 3);
  });
}

if (redisUrl) {
  test('redis: two gateway processes on one Redis share the budget', async (t) => {
    const prefix = `govault-test:${randomUUID()}:`;
    const one = await gatewayWith({ REDIS_URL: redisUrl, RATE_LIMIT_PREFIX: prefix, RATE_LIMIT_MAX: '3' }, t);
    const two = await gatewayWith({ REDIS_URL: redisUrl, RATE_LIMIT_PREFIX: prefix, RATE_LIMIT_MAX: '3' }, t);
    const user = asUser(randomUUID());
    const statuses: number[] = [];
    for (const gateway of [one, two, one, two, one]) {
      statuses.push((await fetch(`${gateway.base}/api/files`, { headers: user })).status);
    }
    t.deepEqual(statuses, [200, 200, 200, 429, 429]);
  });
}

if (redisUrl) {
  /** A gateway whose Redis is the shared one behind a link the test can cut or stall. */
  async function gatewayBehindLink(t: { teardown(fn: () => Promise<void>): void }) {
    const target = new URL(redisUrl!);
    const link = await TcpLink.open(target.hostname, Number(target.port || 6379));
    t.teardown(() => link.close());
    const viaLink = new URL(redisUrl!);
    viaLink.host = `127.0.0.1:${link.port}`;
    const gateway = await gatewayWith({ REDIS_URL: viaLink.toString(), RATE_LIMIT_MAX: '2' }, t);
    return { link, gateway };
  }

  /** One request of `userId`: its status and whether the limiter counted it (the RateLimit-* headers). */
  const asked = async (gateway: TestGateway, userId: string) => {
    const response = await fetch(`${gateway.base}/api/files`, { headers: asUser(userId), signal: AbortSignal.timeout(10_000) }).catch(() => {
      throw new Error('no answer within 10 s: the limiter held the request');
    });
    await response.arrayBuffer();
    return { status: response.status, counted: response.headers.get('ratelimit-limit') !== null };
  };

  const STORE_DOWN = 'rate-limit store unavailable; letting requests through';

  test('redis gone: the limiter lets every request through (fails open), warns, /readyz says so; back, the budget applies again', async (t) => {
    const { link, gateway } = await gatewayBehindLink(t);
    const alice = randomUUID();
    const before = [];
    for (let i = 0; i < 3; i++) before.push(await asked(gateway, alice));
    t.deepEqual(before.map((a) => a.status), [200, 200, 429], 'the budget of 2 holds while Redis answers');

    await link.cut();
    const during = [];
    for (let i = 0; i < 5; i++) during.push(await asked(gateway, alice));
    t.deepEqual(during, Array(5).fill({ status: 200, counted: false }), 'past her budget, alice is served while nothing can count');
    t.is(upstream.seen.filter((s) => s.headers['x-user-id'] === alice).length, 2 + 5, 'and her requests reached the service');
    const warnings = gateway.logLines.filter((line) => line.msg === STORE_DOWN);
    t.true(warnings.length >= 1, 'the gateway logs that it lets requests through');
    t.true(warnings.length < during.length, `one warning now and then, not one per request (${warnings.length})`);
    t.true(warnings.every((line) => line.level === 40), 'at level warn');
    const notReady = await fetch(`${gateway.base}/readyz`);
    t.is(notReady.status, 503);
    const { checks } = (await notReady.json()) as { checks: Record<string, string> };
    t.like(checks, { auth: 'ok', files: 'ok', upload: 'ok' });
    t.not(checks.redis, 'ok', 'readiness names Redis');

    await link.restore();
    // The gateway reconnects by itself; until it has, requests still pass uncounted.
    let answer = await asked(gateway, alice);
    for (const deadline = Date.now() + 15_000; !answer.counted && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 100));
      answer = await asked(gateway, alice);
    }
    t.deepEqual(answer, { status: 429, counted: true }, "back, Redis still holds alice's spent budget for the window");
    t.is((await fetch(`${gateway.base}/readyz`)).status, 200);
  });

  test('redis silent (connected, never answering): each request passes after the command timeout instead of hanging', async (t) => {
    const { link, gateway } = await gatewayBehindLink(t);
    const bob = randomUUID();
    t.deepEqual(await asked(gateway, bob), { status: 200, counted: true });
    link.stall();
    // asked() gives up after 10 s: a limiter that waited for Redis would fail here.
    const during = [];
    for (let i = 0; i < 3; i++) during.push(await asked(gateway, bob));
    t.deepEqual(during, Array(3).fill({ status: 200, counted: false }));
    t.true(gateway.logLines.some((line) => line.msg === STORE_DOWN));
  });
}

const storeFactories: Array<[string, () => RateLimitStore]> = [['memory', () => new MemoryRateLimitStore()]];
if (redisUrl) storeFactories.push(['redis', () => new RedisRateLimitStore(redisUrl, `govault-test:${randomUUID()}:`)]);

for (const [name, make] of storeFactories) {
  test(`${name} store: counts per key in a clock-aligned window, and a new window starts over`, async (t) => {
    const store = make();
    t.teardown(() => store.close());
    const windowMs = 1_000;
    // Start just after a window boundary so that the three hits share one window.
    await new Promise((r) => setTimeout(r, windowMs - (Date.now() % windowMs) + 20));
    const first = await store.hit('a', windowMs);
    const second = await store.hit('a', windowMs);
    const other = await store.hit('b', windowMs);
    t.deepEqual([first.count, second.count, other.count], [1, 2, 1]);
    t.true(second.resetMs > 0 && second.resetMs <= windowMs);
    await new Promise((r) => setTimeout(r, second.resetMs + 20));
    t.is((await store.hit('a', windowMs)).count, 1);
  });
}
