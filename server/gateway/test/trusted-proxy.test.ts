import { randomUUID } from 'node:crypto';
import test from 'ava';
import { accessToken, standIn, startGateway, type StandIn, type TestGateway } from './support.ts';

/**
 * A gateway behind a TLS-terminating proxy (TRUST_PROXY_HOPS=1) against one that faces
 * clients itself (the default): what reaches the services, and whom the rate limit counts.
 */
let upstream: StandIn;
test.before(async () => {
  upstream = await standIn();
});
test.after.always(() => upstream?.close());

async function gatewayWith(env: Record<string, string>, t: { teardown(fn: () => Promise<void>): void }): Promise<TestGateway> {
  const gateway = await startGateway({
    AUTH_URL: upstream.url,
    FILES_URL: upstream.url,
    UPLOAD_URL: upstream.url,
    RATE_LIMIT_WINDOW_SECONDS: '3600',
    RATE_LIMIT_AUTH_MAX: '2',
    LOG_LEVEL: 'silent',
    ...env,
  });
  t.teardown(() => gateway.close());
  return gateway;
}

/** What a front proxy sends on: the client's address appended, the scheme and host it was reached by. */
const fromProxy = (clientIp: string, spoofed?: string) => ({
  'X-Forwarded-For': spoofed ? `${spoofed}, ${clientIp}` : clientIp,
  'X-Forwarded-Proto': 'https',
  'X-Forwarded-Host': 'vault.example.com',
});

const login = (gateway: TestGateway, headers: Record<string, string>) =>
  fetch(`${gateway.base}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{}' }).then((r) => r.status);

test('behind one trusted proxy, services see the public scheme, host and the client address', async (t) => {
  const gateway = await gatewayWith({ TRUST_PROXY_HOPS: '1' }, t);
  const userId = randomUUID();
  await fetch(`${gateway.base}/api/files`, { headers: { Authorization: `Bearer ${accessToken(userId)}`, ...fromProxy('203.0.113.7', '10.9.9.9') } });
  const seen = upstream.seen.filter((s) => s.headers['x-user-id'] === userId).at(-1)!;
  t.is(seen.headers['x-forwarded-proto'], 'https', 'tus Location URLs come out https');
  t.is(seen.headers['x-forwarded-host'], 'vault.example.com');
  t.is(seen.headers['x-forwarded-for'], '203.0.113.7', 'the address the proxy saw, not what the client claimed before it');
});

test('behind one trusted proxy, each client has its own login budget, and a forged X-Forwarded-For entry does not reset it', async (t) => {
  const gateway = await gatewayWith({ TRUST_PROXY_HOPS: '1' }, t);
  const alice = fromProxy('203.0.113.10');
  // The stand-in auth answers every login it gets with 200: a 200 is a login that reached auth.
  t.is(await login(gateway, alice), 200);
  t.is(await login(gateway, alice), 200);
  t.is(await login(gateway, alice), 429, 'the third login of one client in the window');
  t.is(await login(gateway, fromProxy('203.0.113.10', '198.51.100.1')), 429, 'a forged leftmost entry is still the same client');
  t.is(await login(gateway, fromProxy('203.0.113.11')), 200, 'another client behind the same proxy keeps its budget');
  const reachedAuth = (ip: string) => upstream.seen.filter((s) => s.url === '/api/auth/login' && s.headers['x-forwarded-for'] === ip).length;
  t.is(reachedAuth('203.0.113.10'), 2, 'the limited logins never reached auth');
  t.is(reachedAuth('203.0.113.11'), 1);
});

test('facing clients itself (the default), the gateway ignores X-Forwarded-* from them', async (t) => {
  const gateway = await gatewayWith({}, t);
  const userId = randomUUID();
  await fetch(`${gateway.base}/api/files`, { headers: { Authorization: `Bearer ${accessToken(userId)}`, ...fromProxy('203.0.113.7') } });
  const seen = upstream.seen.filter((s) => s.headers['x-user-id'] === userId).at(-1)!;
  t.is(seen.headers['x-forwarded-proto'], 'http');
  t.is(seen.headers['x-forwarded-host'], `127.0.0.1:${gateway.port}`);
  t.is(seen.headers['x-forwarded-for'], '127.0.0.1');
  // Every address a client claims is the same client: the budget is its TCP peer's.
  const statuses = [];
  for (let i = 0; i < 3; i++) statuses.push(await login(gateway, fromProxy(`203.0.113.${20 + i}`)));
  t.deepEqual(statuses, [200, 200, 429]);
});
