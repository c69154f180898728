import { createHash, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import test from 'ava';
import { RawConnection, rawRequest } from './raw-http.ts';
import { accessToken, metricValue, standIn, startGateway, type StandIn } from './support.ts';

/**
 * The framing of what the gateway sends upstream is its own: a Content-Length or chunked
 * only for content it forwards, byte for byte; and an upstream connection goes back to
 * the pool only in a state the gateway can vouch for. Clients talk raw HTTP/1.1 here.
 */
const bearer = () => `Bearer ${accessToken(randomUUID())}`;
const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Which upstream connection served each request, and which connections have closed. */
function connectionsOf(upstream: Pick<StandIn, 'server'>) {
  const ids = new WeakMap<Socket, number>();
  const closed = new Set<number>();
  let next = 0;
  upstream.server.on('connection', (socket: Socket) => {
    const id = ++next;
    ids.set(socket, id);
    socket.once('close', () => closed.add(id));
  });
  const served: number[] = [];
  upstream.server.prependListener('request', (req) => served.push(ids.get(req.socket)!));
  return { served, closed };
}

async function fixture(t: { teardown(fn: () => Promise<void>): void }, handler?: Parameters<typeof standIn>[0], env: Record<string, string> = {}) {
  const auth = await standIn();
  const files = await standIn(handler);
  const gateway = await startGateway({ AUTH_URL: auth.url, FILES_URL: files.url, UPLOAD_URL: files.url, BREAKER_MIN_CALLS: '3', ...env });
  t.teardown(async () => {
    await gateway.close();
    await Promise.all([auth.close(), files.close()]);
  });
  return { files, gateway, connections: connectionsOf(files) };
}

async function exchange(port: number, request: string | Buffer) {
  const connection = await RawConnection.open(port);
  connection.write(request);
  const response = await connection.response({ head: request.toString().startsWith('HEAD ') });
  connection.destroy();
  return response;
}

test('GET, HEAD and OPTIONS never carry content upstream, whatever the client framed', async (t) => {
  const { files, gateway } = await fixture(t);
  const inner = rawRequest('GET', '/internal/users/x', [['Host', 'x']]);
  for (const method of ['GET', 'HEAD', 'OPTIONS']) {
    for (const framing of [
      [['Content-Length', String(inner.length)]],
      [['Transfer-Encoding', 'chunked']],
    ] as Array<Array<[string, string]>>) {
      const chunked = framing[0]![0] === 'Transfer-Encoding';
      const content = chunked ? `${inner.length.toString(16)}\r\n${inner}\r\n0\r\n\r\n` : inner;
      const before = files.seen.length;
      const response = await exchange(gateway.port, rawRequest(method, '/api/files/x', [['Host', 'g'], ['Authorization', bearer()], ...framing], content));
      t.is(response?.status, 200, `${method} ${framing[0]![0]}`);
      await wait(50);
      const reached = files.seen.slice(before);
      t.deepEqual(reached.map((r) => `${r.method} ${r.url}`), [`${method} /api/files/x`], 'exactly the one request, nothing smuggled');
      t.is(reached[0]!.headers['content-length'], undefined);
      t.is(reached[0]!.headers['transfer-encoding'], undefined);
      t.is(reached[0]!.bodyBytes, 0);
    }
  }
});

test('content goes upstream byte for byte, with a length when the client gave one and chunked when it sent chunks', async (t) => {
  const { files, gateway } = await fixture(t);
  const content = 'x'.repeat(70_000);
  // A route of the public API for each method that may carry content.
  const routes: Record<string, string> = { POST: '/api/files/a/shares', PUT: '/api/files/a/shares/b', PATCH: '/api/files/a', DELETE: '/api/files/a' };
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
    await exchange(gateway.port, rawRequest(method, routes[method]!, [['Host', 'g'], ['Authorization', bearer()], ['Content-Length', String(content.length)]], content));
    const sized = files.seen.at(-1)!;
    t.is(sized.headers['content-length'], String(content.length), method);
    t.is(sized.headers['transfer-encoding'], undefined);
    t.is(sized.bodySha256, sha256(content));

    // DELETE is the trap: Node sends an unframed body on a DELETE without a length unless told chunked.
    const chunks = `1000\r\n${content.slice(0, 4096)}\r\n${(content.length - 4096).toString(16)}\r\n${content.slice(4096)}\r\n0\r\n\r\n`;
    await exchange(gateway.port, rawRequest(method, routes[method]!, [['Host', 'g'], ['Authorization', bearer()], ['Transfer-Encoding', 'chunked']], chunks));
    const chunked = files.seen.at(-1)!;
    t.is(chunked.url, routes[method]!);
    t.is(chunked.headers['transfer-encoding'], 'chunked', method);
    t.is(chunked.headers['content-length'], undefined);
    t.is(chunked.bodySha256, sha256(content));
  }
});

test('a client that hangs up mid-content: the half-sent upstream request dies with its connection, and opens no breaker', async (t) => {
  const { files, gateway, connections } = await fixture(t);
  for (let i = 0; i < 8; i++) {
    const connection = await RawConnection.open(gateway.port);
    connection.write(rawRequest('POST', '/api/shortcuts', [['Host', 'g'], ['Authorization', bearer()], ['Content-Length', '100']], '{'));
    await wait(100);
    connection.destroy();
  }
  const cutOnesClosed = () => connections.served.every((id) => connections.closed.has(id));
  for (const deadline = Date.now() + 5_000; !cutOnesClosed() && Date.now() < deadline; ) await wait(50);
  t.true(connections.served.length >= 1);
  // (A connection that got no byte before its request was cut is clean, and may stay in the pool.)
  t.true(cutOnesClosed(), 'every upstream connection that held a cut request is closed');
  t.is(files.seen.length, 0, 'no cut request was completed upstream');
  for (let i = 0; i < 3; i++) t.is((await fetch(`${gateway.base}/api/files`, { headers: { Authorization: bearer() } })).status, 200);
  t.is(await metricValue(gateway.base, 'circuit_breaker_open', { upstream: 'files' }), 0);
});

test('an upstream that answers before it read the content: the answer goes to the client, the connection is never reused', async (t) => {
  // Answers as soon as the header section is in, as an upstream's size or auth check does.
  const early = createServer((req, res) => {
    if (req.method === 'POST') res.writeHead(413, { 'content-type': 'application/json' }).end('{"error":{"code":"payload_too_large"}}');
    else res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
  await new Promise<void>((resolve) => early.listen(0, '127.0.0.1', resolve));
  const earlyUrl = `http://127.0.0.1:${(early.address() as AddressInfo).port}`;
  const auth = await standIn();
  const gateway = await startGateway({ AUTH_URL: auth.url, FILES_URL: earlyUrl, UPLOAD_URL: auth.url });
  t.teardown(async () => {
    await gateway.close();
    early.closeAllConnections();
    await Promise.all([auth.close(), new Promise((resolve) => early.close(resolve))]);
  });
  const connections = connectionsOf({ server: early });

  const connection = await RawConnection.open(gateway.port);
  connection.write(rawRequest('POST', '/api/files/x/shares', [['Host', 'g'], ['Authorization', bearer()], ['Content-Length', String(200_000)]], 'a'.repeat(1_000)));
  const answer = await connection.response();
  t.is(answer?.status, 413);
  connection.write('a'.repeat(199_000)); // the rest is read and dropped at the gateway
  await wait(200);
  const next = await fetch(`${gateway.base}/api/files/y`, { headers: { Authorization: bearer() } });
  t.is(next.status, 200);
  t.is(connections.served.length, 2);
  t.not(connections.served[0], connections.served[1], 'the second request got a fresh upstream connection');
  t.true(connections.closed.has(connections.served[0]!), 'the early-answered connection was closed');
  // The client's own connection goes on in step.
  connection.write(rawRequest('GET', '/api/files/z', [['Host', 'g'], ['Authorization', bearer()]]));
  t.is((await connection.response())?.status, 200);
  connection.destroy();
});

test('Expect: 100-continue is answered by the gateway; the upstream gets the content and no expectation', async (t) => {
  const { files, gateway } = await fixture(t);
  const connection = await RawConnection.open(gateway.port);
  connection.write(rawRequest('POST', '/api/files/x/shares', [['Host', 'g'], ['Authorization', bearer()], ['Content-Length', '5'], ['Expect', '100-continue']]));
  t.is((await connection.response())?.status, 100);
  connection.write('hello');
  t.is((await connection.response())?.status, 200);
  connection.destroy();
  t.is(files.seen.at(-1)!.headers.expect, undefined);
  t.is(files.seen.at(-1)!.bodySha256, sha256('hello'));
});

test('framing Node refuses never reaches a service and gets a JSON 400', async (t) => {
  const { files, gateway } = await fixture(t);
  for (const framing of [
    [['Content-Length', '5'], ['Transfer-Encoding', 'chunked']],
    [['Transfer-Encoding', 'chunked'], ['Content-Length', '5']],
    [['Transfer-Encoding', 'gzip']],
    [['Transfer-Encoding', 'chunked, gzip']],
    [['Content-Length', '5'], ['Content-Length', '7']],
    [['Content-Length', '-1']],
    [['Content-Length', '5, 5']],
    [['Transfer-Encoding ', 'chunked']], // RFC 9112 §5.1: whitespace before the colon MUST be rejected with 400
    [['Transfer-Encoding', 'xchunked']],
  ] as Array<Array<[string, string]>>) {
    const response = await exchange(gateway.port, rawRequest('POST', '/api/files/x/shares', [['Host', 'g'], ['Authorization', bearer()], ...framing], '0\r\n\r\n'));
    t.is(response?.status, 400, JSON.stringify(framing));
    t.is(response?.headers['content-type'], 'application/json');
    t.like(JSON.parse(response!.body), { error: { code: 'validation_failed' } });
  }
  t.is(files.seen.length, 0);
});

test('a 5xx answered by an upstream counts against its breaker, and still reaches the client', async (t) => {
  const { gateway, files } = await fixture(t, (_req, res) => res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"code":"internal"}}'));
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) statuses.push((await fetch(`${gateway.base}/api/files`, { headers: { Authorization: bearer() } })).status);
  t.is(statuses[0], 500);
  t.is(statuses.at(-1), 503, statuses.join(','));
  t.is(await metricValue(gateway.base, 'circuit_breaker_open', { upstream: 'files', upstream_instance: files.url }), 1);
});
