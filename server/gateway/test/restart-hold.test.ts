import { createHash, randomBytes, randomUUID } from 'node:crypto';
import test from 'ava';
import { freePort } from '@govault/lib';
import { RawConnection } from './raw-http.ts';
import { accessToken, standIn, startGateway, type StandIn } from './support.ts';

/**
 * The gateway's hold while an upload instance restarts: a request the instance cannot have
 * seen (its connection refused) waits for it whatever its method, so a tus client's
 * creation or next PATCH goes through once the instance is back; a request that reached an
 * instance which then died is never sent a second time unless its method is idempotent.
 */
const asUser = () => ({ Authorization: `Bearer ${accessToken(randomUUID())}`, 'Tus-Resumable': '1.0.0' });

async function gatewayFor(uploadPort: number, t: { teardown(fn: () => unknown): void }) {
  const [auth, files] = [await standIn(), await standIn()];
  const gateway = await startGateway({ AUTH_URL: auth.url, FILES_URL: files.url, UPLOAD_URL: `http://127.0.0.1:${uploadPort}`, UPSTREAM_RETRY_SECONDS: '10' });
  t.teardown(async () => {
    await gateway.close();
    await Promise.all([auth.close(), files.close()]);
  });
  return gateway.base;
}

/** An upload instance that starts listening on `port` after `ms`, as a restarted one does. */
function comesBackAfter(ms: number, port: number, t: { teardown(fn: () => unknown): void }): Promise<StandIn> {
  return new Promise((resolve, reject) => {
    setTimeout(() => {
      standIn((req, res, seen) => {
        if (req.method === 'POST') res.writeHead(201, { location: `/api/uploads/tus/${randomUUID()}` }).end();
        else res.writeHead(204, { 'upload-offset': String(seen.bodyBytes) }).end();
      }, port).then((upload) => {
        t.teardown(() => upload.close());
        resolve(upload);
      }, reject);
    }, ms);
  });
}

test('a tus creation (POST) sent while the upload service is down waits for it and is created once', async (t) => {
  const port = await freePort();
  const base = await gatewayFor(port, t);
  const upload = comesBackAfter(1_500, port, t);
  const created = await fetch(`${base}/api/uploads/tus`, { method: 'POST', headers: { ...asUser(), 'Upload-Length': '10' } });
  t.is(created.status, 201, 'the client sees its upload created, not a 503');
  t.deepEqual((await upload).seen.filter((s) => s.method === 'POST').length, 1, 'the service saw the creation exactly once');
});

test('a PATCH sent while the upload service is down waits, and its content arrives whole', async (t) => {
  const port = await freePort();
  const base = await gatewayFor(port, t);
  const upload = comesBackAfter(1_500, port, t);
  const content = randomBytes(3 * 1024 * 1024);
  const patched = await fetch(`${base}/api/uploads/tus/abc`, {
    method: 'PATCH',
    headers: { ...asUser(), 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
    body: content,
  });
  t.is(patched.status, 204);
  t.is(patched.headers.get('upload-offset'), String(content.length));
  const seen = (await upload).seen.filter((s) => s.method === 'PATCH');
  t.is(seen.length, 1);
  t.is(seen[0]!.bodySha256, createHash('sha256').update(content).digest('hex'), 'every byte reached the service, in order');
});

test('a POST that reached an upload instance which died before answering is not sent again: 503', async (t) => {
  let dying: StandIn | undefined;
  dying = await standIn((req) => {
    // The instance read the request, then crashed: the gateway sees its connection reset.
    req.socket.destroy();
    void dying?.close();
  });
  const base = await gatewayFor(dying.port, t);
  t.teardown(() => dying!.close());
  const started = Date.now();
  const created = await fetch(`${base}/api/uploads/tus`, { method: 'POST', headers: { ...asUser(), 'Upload-Length': '10' } });
  t.is(created.status, 503, 'the client is told to retry itself: the creation may have happened');
  t.is(dying.seen.filter((s) => s.method === 'POST').length, 1, 'sent once, never replayed');
  t.true(Date.now() - started < 5_000, 'answered without waiting out the hold');
});

test('a PATCH whose upload instance dies midway gets its 503, and the connection is half-closed so the client stops sending the rest', async (t) => {
  const dying = await standIn();
  // The instance reads a first piece of the content, then crashes.
  dying.server.removeAllListeners('request');
  dying.server.on('request', (req) => req.once('data', () => req.socket.destroy()));
  t.teardown(() => dying.close());
  const base = await gatewayFor(dying.port, t);
  const connection = await RawConnection.open(Number(new URL(base).port));
  t.teardown(() => connection.destroy());
  const length = 64 * 1024 * 1024;
  connection.write(
    `PATCH /api/uploads/tus/abc HTTP/1.1\r\nHost: govault.test\r\nAuthorization: ${asUser().Authorization}\r\nTus-Resumable: 1.0.0\r\n` +
      `Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: ${length}\r\n\r\n`,
  );
  let sent = 0;
  const piece = Buffer.alloc(256 * 1024);
  const sending = setInterval(() => {
    if (connection.ended || sent >= length) return clearInterval(sending);
    connection.write(piece);
    sent += piece.length;
  }, 5);
  t.teardown(() => clearInterval(sending));
  const answer = await connection.response({ timeoutMs: 20_000 });
  t.is(answer?.status, 503);
  await connection.closed;
  t.true(sent < length / 2, `the gateway closed the connection after ${sent} of ${length} bytes, instead of reading the rest`);
});
