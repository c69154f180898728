import test from 'ava';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { freePorts } from '@govault/lib';
import { availableModes, startSystem, type RunningSystem } from '../../../e2e/system.ts';
import { TcpProxy } from '../../../e2e/tcp-proxy.ts';
import { outcomeOf, runImage } from './image-process.ts';

/**
 * The whole system started natively as `npm start` does: real mode (PostgreSQL + S3) when
 * its servers are configured, which GOVAULT_REQUIRE_REAL_SERVICES=1 demands; embedded
 * otherwise (then /content answers 200 itself instead of redirecting to S3).
 * ci: picks its own database — CI runs it in real mode, the deployment's own mode; the
 * embedded pass would add only the skip of the SMOKE_CONNECT_TO case (no presigned URL
 * there), and the compose-native test runs the same smoke job on the compose wiring.
 */
const mode = availableModes().includes('real') ? 'real' : 'embedded';
let system: RunningSystem | undefined;

test.before(async () => {
  system = await startSystem(mode);
});
test.after.always(async () => {
  await system?.stop();
});

const smoke = (url: string, extra: NodeJS.ProcessEnv = {}) => runImage(['smoke'], { SMOKE_URL: url, SMOKE_BYTES: String(5 * 1024 * 1024), SMOKE_TIMEOUT_SECONDS: '60', ...extra }, { timeoutMs: 90_000 });

test.serial(`smoke passes against a running system (${mode} mode) and prints one matched outcome`, async (t) => {
  const run = await smoke(system!.baseUrl);
  t.is(run.status, 0, run.stdout + run.stderr);
  const outcome = outcomeOf(run);
  t.like(outcome, { command: 'smoke', ok: true, matched: true, bytes: 5 * 1024 * 1024 });
  t.is(outcome.downloadedSha256, outcome.uploadedSha256);
  t.regex(String(outcome.email), /^smoke-[0-9a-f]+@smoke\.govault\.test$/);
  if (mode === 'real') t.is(outcome.downloadedFrom, new URL(process.env.S3_PUBLIC_ENDPOINT ?? process.env.S3_ENDPOINT!).origin, 'the download followed the redirect to S3');
  else t.is(outcome.downloadedFrom, new URL(system!.baseUrl).origin);
});

/**
 * A gateway in front of the real one that gives back other bytes for /content: the
 * deployment "works" up to the download, and only the checksum tells.
 */
async function corruptingGateway(target: string): Promise<{ url: string; server: Server }> {
  const upstream = new URL(target);
  const server = createServer(async (req, res) => {
    if (req.method === 'GET' && /^\/api\/files\/[^/]+\/content$/.test(req.url ?? '')) {
      const real = await fetch(new URL(req.url!, target), { headers: { authorization: req.headers.authorization ?? '' } });
      const bytes = Buffer.from(await real.arrayBuffer());
      if (bytes.length > 0) bytes[bytes.length >> 1]! ^= 0xff;
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length }).end(bytes);
      return;
    }
    const forward = httpRequest({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: { ...req.headers, host: upstream.host } }, (answer) => {
      res.writeHead(answer.statusCode!, answer.headers);
      answer.pipe(res);
    });
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

test.serial('smoke fails when the bytes downloaded are not the bytes uploaded', async (t) => {
  const { url, server } = await corruptingGateway(system!.baseUrl);
  t.teardown(() => server.close());
  const run = await smoke(url, { SMOKE_BYTES: '300000' });
  t.is(run.status, 1);
  const outcome = outcomeOf(run);
  t.like(outcome, { ok: false, matched: false });
  t.not(outcome.downloadedSha256, outcome.uploadedSha256);
  t.regex(String(outcome.error), /^download: /);
});

test.serial('smoke fails, naming the step, when SMOKE_URL answers nothing', async (t) => {
  const [closed] = await freePorts(1);
  const run = await smoke(`http://127.0.0.1:${closed}`);
  t.is(run.status, 1);
  t.like(outcomeOf(run), { ok: false, matched: false });
  t.regex(String(outcomeOf(run).error), /^register: .*could not be reached \(ECONNREFUSED\)/);
});

/**
 * As in compose, where presigned URLs name S3_PUBLIC_ENDPOINT (localhost:7070) and the
 * smoke job reaches the store as s3:7070: SMOKE_CONNECT_TO routes the signed URL unchanged.
 */
(mode === 'real' ? test.serial : test.skip)('SMOKE_CONNECT_TO sends the presigned download to another address with its Host unchanged', async (t) => {
  const s3 = new URL(process.env.S3_PUBLIC_ENDPOINT ?? process.env.S3_ENDPOINT!);
  const proxy = await TcpProxy.to(s3.href);
  t.teardown(() => proxy.close());
  const routed = await smoke(system!.baseUrl, { SMOKE_BYTES: '300000', SMOKE_CONNECT_TO: `${s3.hostname}:${s3.port}=127.0.0.1:${proxy.port}` });
  t.is(routed.status, 0, routed.stdout + routed.stderr);
  t.like(outcomeOf(routed), { ok: true, matched: true });

  const [closed] = await freePorts(1);
  const nowhere = await smoke(system!.baseUrl, { SMOKE_BYTES: '300000', SMOKE_CONNECT_TO: `${s3.hostname}:${s3.port}=127.0.0.1:${closed}` });
  t.is(nowhere.status, 1, 'the route is really taken');
  t.regex(String(outcomeOf(nowhere).error), /^download: .*via 127\.0\.0\.1:\d+\) could not be reached \(ECONNREFUSED\)/);
});

test.serial('smoke without SMOKE_URL exits 2 and says so', async (t) => {
  const run = await runImage(['smoke'], {});
  t.is(run.status, 2);
  t.regex(run.stderr, /SMOKE_URL/);
});
