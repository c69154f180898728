import { randomUUID } from 'node:crypto';
import test from 'ava';
import { gatewayConfigSchema } from '../src/config.ts';
import { RawConnection, rawRequest } from './raw-http.ts';
import { accessToken, keys, standIn, startGateway } from './support.ts';

/**
 * Slow and greedy clients get a bounded share: a deadline for the header section, an idle
 * timeout for request content, and caps on connections and requests in progress per
 * client address. Other addresses are served meanwhile. Loopback clients bind to
 * 127.0.0.2 and up (Linux routes all of 127/8 to lo) to be other addresses.
 */
const bearer = () => `Bearer ${accessToken(randomUUID())}`;
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function fixture(t: { teardown(fn: () => Promise<void>): void }, env: Record<string, string>) {
  const auth = await standIn();
  const files = await standIn();
  const gateway = await startGateway({ AUTH_URL: auth.url, FILES_URL: files.url, UPLOAD_URL: files.url, ...env });
  const opened: RawConnection[] = [];
  const open = async (address = '127.0.0.1') => {
    const connection = await RawConnection.open(gateway.port, address);
    opened.push(connection);
    return connection;
  };
  t.teardown(async () => {
    for (const connection of opened) connection.destroy();
    await gateway.close();
    await Promise.all([auth.close(), files.close()]);
  });
  return { files, gateway, open };
}

const slowPost = (headers: Array<[string, string]> = []) =>
  rawRequest('POST', '/api/files/x/shares', [['Host', 'g'], ['Authorization', bearer()], ['Content-Length', '100'], ...headers], '{');

test.serial('a header section not sent within the deadline: JSON 408 and the connection closed', async (t) => {
  const { open } = await fixture(t, { GATEWAY_HEADERS_TIMEOUT_SECONDS: '1' });
  const started = Date.now();
  const connection = await open();
  connection.write('GET /api/files HTTP/1.1\r\nHost: g\r\nX-Slow: ');
  const answer = await connection.response();
  await connection.closed;
  const waited = Date.now() - started;
  t.is(answer?.status, 408);
  t.like(JSON.parse(answer!.body), { error: { code: 'request_timeout' } });
  t.true(waited >= 900 && waited < 4_000, `closed after ${waited} ms`);
});

test.serial('content that goes silent: JSON 408 and closed; content that keeps flowing is never cut', async (t) => {
  const { files, open } = await fixture(t, { GATEWAY_BODY_IDLE_TIMEOUT_SECONDS: '1' });
  const started = Date.now();
  const silent = await open();
  silent.write(slowPost());
  const answer = await silent.response();
  await silent.closed;
  const waited = Date.now() - started;
  t.is(answer?.status, 408);
  t.like(JSON.parse(answer!.body), { error: { code: 'request_timeout' } });
  t.true(waited >= 900 && waited < 4_000, `answered after ${waited} ms`);
  t.is(files.seen.length, 0, 'the cut request never completed upstream');

  // Ten bytes, one every 400 ms: four seconds in all, four times the idle timeout.
  const flowing = await open();
  flowing.write(rawRequest('PATCH', '/api/files/y', [['Host', 'g'], ['Authorization', bearer()], ['Content-Length', '10']]));
  for (let i = 0; i < 10; i++) {
    await wait(400);
    flowing.write('x');
  }
  t.is((await flowing.response())?.status, 200);
  t.is(files.seen.at(-1)?.bodyBytes, 10);
});

test.serial('connections over the cap per address are closed at once; another address is still served', async (t) => {
  const { gateway, open } = await fixture(t, { GATEWAY_MAX_CONNECTIONS_PER_IP: '5' });
  const crowd = await Promise.all(Array.from({ length: 12 }, () => open('127.0.0.2')));
  const closed = () => crowd.filter((c) => c.ended).length;
  for (const deadline = Date.now() + 3_000; closed() < 7 && Date.now() < deadline; ) await wait(50);
  await wait(200);
  t.is(closed(), 7);
  const response = await fetch(`${gateway.base}/api/files`, { headers: { Authorization: bearer() } });
  t.is(response.status, 200);
  // A closed connection frees its place.
  for (const connection of crowd) connection.destroy();
  await wait(200);
  const again = await open('127.0.0.2');
  again.write(rawRequest('GET', '/api/files', [['Host', 'g'], ['Authorization', bearer()]]));
  t.is((await again.response())?.status, 200);
});

test.serial('requests in progress over the cap per address get a JSON 429; other addresses are answered at once', async (t) => {
  const { open } = await fixture(t, { GATEWAY_MAX_INFLIGHT_PER_IP: '4', GATEWAY_UPSTREAM_MAX_SOCKETS: '8' });
  const slow = await Promise.all(Array.from({ length: 10 }, () => open('127.0.0.3')));
  for (const connection of slow) connection.write(slowPost());
  const answers = await Promise.all(slow.map((c) => c.response({ timeoutMs: 1_500 }).catch(() => 'waiting' as const)));
  const limited = answers.filter((a) => a !== 'waiting' && a?.status === 429);
  t.is(limited.length, 6);
  t.like(JSON.parse((limited[0] as { body: string }).body), { error: { code: 'rate_limited' } });
  t.is((limited[0] as { headers: Record<string, string> }).headers['retry-after'], '1');
  t.is(answers.filter((a) => a === 'waiting').length, 4);

  // Four slow requests hold four of the eight upstream connections: another address is not queued behind them.
  const started = Date.now();
  const other = await open('127.0.0.4');
  other.write(rawRequest('GET', '/api/files', [['Host', 'g'], ['Authorization', bearer()]]));
  t.is((await other.response({ timeoutMs: 3_000 }))?.status, 200);
  t.true(Date.now() - started < 1_000);
});

test.serial('behind a trusted proxy the cap follows the forwarded client address, not the proxy connection', async (t) => {
  const { open } = await fixture(t, { TRUST_PROXY_HOPS: '1', GATEWAY_MAX_INFLIGHT_PER_IP: '2', GATEWAY_MAX_CONNECTIONS_PER_IP: '2' });
  // Every connection comes from the proxy's address: more of them than the per-address cap pass.
  const fromProxy = await Promise.all(Array.from({ length: 4 }, () => open('127.0.0.5')));
  for (const connection of fromProxy) connection.write(slowPost([['X-Forwarded-For', '198.51.100.7']]));
  const answers = await Promise.all(fromProxy.map((c) => c.response({ timeoutMs: 1_500 }).catch(() => 'waiting' as const)));
  t.is(answers.filter((a) => a !== 'waiting' && a?.status === 429).length, 2);
  const another = await open('127.0.0.5');
  another.write(rawRequest('GET', '/api/files', [['Host', 'g'], ['Authorization', bearer()], ['X-Forwarded-For', '198.51.100.8']]));
  t.is((await another.response())?.status, 200);
});

test.serial('the in-flight cap must stay below the upstream pool, or one address could take it all', (t) => {
  const parse = (env: Record<string, string>) => gatewayConfigSchema.safeParse({ INTERNAL_KEY_DIR: keys.dir, ...env });
  t.false(parse({ GATEWAY_MAX_INFLIGHT_PER_IP: '512', GATEWAY_UPSTREAM_MAX_SOCKETS: '512' }).success);
  const defaults = parse({});
  t.true(defaults.success);
  t.like(defaults.data?.clientLimits, { headersTimeoutMs: 20_000, bodyIdleTimeoutMs: 60_000, maxConnectionsPerIp: 128, maxInflightPerIp: 64, upstreamMaxSockets: 512 });
  t.is(parse({ TRUST_PROXY_HOPS: '1' }).data?.clientLimits.maxConnectionsPerIp, Infinity);
});
