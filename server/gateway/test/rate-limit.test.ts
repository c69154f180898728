import { randomUUID } from 'node:crypto';
import test from 'ava';
import { requireRealServices } from '@govault/lib/testing';
import { MemoryRateLimitStore, type RateLimitStore } from '../src/rate-limit/rate-limit-store.ts';
import { RedisRateLimitStore } from '../src/rate-limit/redis-rate-limit-store.ts';
import { accessToken, metricValue, standIn, startGateway, type StandIn, type TestGateway } from './support.ts';

/**
 * The rate limit through a real gateway over HTTP, in both stores. Redis runs when
 * REDIS_URL is set (CI sets it); every test uses its own key prefix, since one Redis
 * serves every run on the machine.
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
