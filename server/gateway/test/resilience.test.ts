import { randomUUID } from 'node:crypto';
import test from 'ava';
import { freePort } from '@govault/lib';
import { accessToken, metricValue, standIn, startGateway } from './support.ts';

/** Breakers, instance lists, timeouts and readiness, against stand-in upstreams that die and come back. */
const asUser = () => ({ Authorization: `Bearer ${accessToken(randomUUID())}` });

async function fixture(t: { teardown(fn: () => Promise<void>): void }, env: Record<string, string> = {}) {
  const auth = await standIn();
  const files = await standIn();
  const upload = await standIn();
  const gateway = await startGateway({ AUTH_URL: auth.url, FILES_URL: files.url, UPLOAD_URL: upload.url, UPSTREAM_RETRY_SECONDS: '3', ...env });
  t.teardown(async () => {
    await gateway.close();
    await Promise.all([auth.close(), files.close(), upload.close()]);
  });
  return { auth, files, upload, gateway };
}

test('a dead files service: 503 with Retry-After quickly, the breaker metric shows open, then it recovers by itself', async (t) => {
  const { files, gateway } = await fixture(t);
  const labels = { upstream: 'files', upstream_instance: files.url };
  for (let i = 0; i < 5; i++) t.is((await fetch(`${gateway.base}/api/files`, { headers: asUser() })).status, 200);
  t.is(await metricValue(gateway.base, 'circuit_breaker_open', labels), 0);

  const port = files.port;
  await files.close();
  const killed = Date.now();
  let first503: number | undefined;
  while (Date.now() - killed < 5_000) {
    const response = await fetch(`${gateway.base}/api/files`, { headers: asUser() });
    if (response.status === 503) {
      first503 ??= Date.now() - killed;
      t.is(response.headers.get('retry-after'), '5');
      t.is(((await response.json()) as { error: { code: string } }).error.code, 'upstream_unavailable');
      if (await metricValue(gateway.base, 'circuit_breaker_open', labels)) break;
    }
  }
  t.truthy(first503, 'never answered 503');
  t.true(first503! < 2_500, `first 503 after ${first503} ms`);
  t.is(await metricValue(gateway.base, 'circuit_breaker_open', labels), 1);
  const started = Date.now();
  t.is((await fetch(`${gateway.base}/api/files`, { headers: asUser() })).status, 503);
  t.true(Date.now() - started < 500, 'an open circuit answers at once');

  const back = await standIn(undefined, port);
  t.teardown(() => back.close());
  let status = 0;
  for (const deadline = Date.now() + 5_000; status !== 200 && Date.now() < deadline; ) {
    status = (await fetch(`${gateway.base}/api/files`, { headers: asUser() })).status;
    if (status !== 200) await new Promise((r) => setTimeout(r, 100));
  }
  t.is(status, 200, 'the gateway recovered without a restart');
  t.is(await metricValue(gateway.base, 'circuit_breaker_open', labels), 0);
  t.is(await metricValue(gateway.base, 'circuit_breaker_transitions_total', { ...labels, state: 'open' }), 1);
  t.is(await metricValue(gateway.base, 'circuit_breaker_transitions_total', { ...labels, state: 'closed' }), 1);
});

test('several instances are served in turn, and a dead one is skipped while the others serve', async (t) => {
  const auth = await standIn();
  const one = await standIn();
  const two = await standIn();
  const deadPort = await freePort();
  const gateway = await startGateway({
    AUTH_URL: auth.url,
    FILES_URL: `${one.url}, ${two.url},http://127.0.0.1:${deadPort}`,
    UPLOAD_URL: one.url,
  });
  t.teardown(async () => {
    await gateway.close();
    await Promise.all([auth.close(), one.close(), two.close()]);
  });
  const statuses: number[] = [];
  for (let i = 0; i < 30; i++) {
    const method = i % 2 ? 'DELETE' : 'GET'; // non-idempotent requests move on too: a refused connection never saw them
    statuses.push((await fetch(`${gateway.base}/api/files/x`, { method, headers: asUser() })).status);
  }
  t.true(statuses.every((s) => s === 200), statuses.join(','));
  t.true(one.seen.length >= 10 && two.seen.length >= 10, `one ${one.seen.length}, two ${two.seen.length}`);
  t.is(await metricValue(gateway.base, 'circuit_breaker_open', { upstream: 'files', upstream_instance: `http://127.0.0.1:${deadPort}` }), 1);
});

test('an upstream that does not answer in time gets a 503, not a hanging client', async (t) => {
  const auth = await standIn();
  // Reads the request and never answers; tells when the gateway gives up on it.
  let upstreamCut!: () => void;
  const cut = new Promise<void>((resolve) => (upstreamCut = resolve));
  const hang = await standIn((_req, res) => void res.once('close', upstreamCut));
  const gateway = await startGateway({ AUTH_URL: auth.url, FILES_URL: hang.url, UPLOAD_URL: auth.url, UPSTREAM_TIMEOUT_SECONDS: '1' });
  t.teardown(async () => {
    await gateway.close();
    await Promise.all([auth.close(), hang.close()]);
  });
  const started = Date.now();
  // A gateway that never times out would hold its client until this bound, far past the 1 s timeout.
  const response = await fetch(`${gateway.base}/api/files`, { headers: asUser(), signal: AbortSignal.timeout(10_000) }).catch(() => {
    throw new Error('no answer within 10 s: the gateway left its client hanging');
  });
  const waited = Date.now() - started;
  t.is(response.status, 503);
  t.is(response.headers.get('retry-after'), '5');
  t.like(await response.json(), { error: { code: 'upstream_unavailable' } });
  t.true(waited >= 950, `answered after ${waited} ms: before the upstream's time was up`);
  t.is(hang.seen.filter((s) => s.url === '/api/files').length, 1, 'the upstream got the request once (so the 503 is its silence, not a refusal)');
  const closed = await Promise.race([cut.then(() => true), new Promise<false>((r) => setTimeout(r, 5_000, false))]);
  t.true(closed, 'the gateway closed its request to the silent upstream');
});

test('a PATCH body that streams for longer than the timeout is not cut', async (t) => {
  const { upload, gateway } = await fixture(t, { UPSTREAM_TIMEOUT_SECONDS: '1' });
  const chunk = Buffer.alloc(64 * 1024, 7);
  const chunks = 12;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      await new Promise((r) => setTimeout(r, 250)); // 12 × 250 ms: three times the timeout
      controller.enqueue(chunk);
      if (--pullsLeft === 0) controller.close();
    },
  });
  let pullsLeft = chunks;
  const response = await fetch(`${gateway.base}/api/uploads/tus/abc`, {
    method: 'PATCH',
    headers: { ...asUser(), 'content-type': 'application/offset+octet-stream', 'tus-resumable': '1.0.0' },
    body,
    duplex: 'half',
  } as RequestInit);
  t.is(response.status, 200);
  t.is(upload.seen.at(-1)!.bodyBytes, chunk.length * chunks);
});

test('readyz: ready when every upstream has a ready instance, 503 naming the one that has none', async (t) => {
  const { files, gateway } = await fixture(t);
  const ready = await fetch(`${gateway.base}/readyz`);
  t.is(ready.status, 200);
  t.like(await ready.json(), { status: 'ready', checks: { auth: 'ok', files: 'ok', upload: 'ok' } });
  await files.close();
  const notReady = await fetch(`${gateway.base}/readyz`);
  t.is(notReady.status, 503);
  t.like(await notReady.json(), { status: 'not_ready', checks: { auth: 'ok', upload: 'ok', files: 'no files instance is ready' } });
});

test('the access log has one JSON line per request with route, status, duration, bytes, request id and user', async (t) => {
  const { gateway } = await fixture(t);
  const userId = randomUUID();
  const requestId = `test-${randomUUID()}`;
  const body = Buffer.alloc(1000, 1);
  await fetch(`${gateway.base}/api/files/${randomUUID()}`, {
    method: 'PATCH',
    headers: { Authorization: `Bearer ${accessToken(userId)}`, 'x-request-id': requestId, 'content-type': 'application/json' },
    body,
  });
  await new Promise((r) => setTimeout(r, 50));
  const line = gateway.logLines.find((l) => l.requestId === requestId);
  t.like(line, { msg: 'request', method: 'PATCH', route: '/api/files/:id', status: 200, bytesIn: 1000, userId, aborted: false });
  t.true(typeof line?.durationMs === 'number');
  t.true((line?.bytesOut as number) > 0);
});
