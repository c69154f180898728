import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ListMultipartUploadsCommand, ListPartsCommand } from '@aws-sdk/client-s3';
import test, { type ExecutionContext } from 'ava';
import * as tus from 'tus-js-client';
import { InternalTokenIssuer, createS3Client, freePort } from '@govault/lib';
import { ServiceProcess, eventually, testS3 } from '@govault/lib/testing';
import { getJson, registerAndLogin, type TestUser } from './client.ts';
import { startCluster, type Cluster } from './cluster.ts';
import { freshDatabases, type FreshDatabases } from './fresh-databases.ts';
import { Scrape, delta } from './prometheus.ts';
import { ROOT, availableModes, type Mode } from './system.ts';
import { TcpProxy } from './tcp-proxy.ts';
import { createUpload, headUpload, openPatch, patchUpload, terminateUpload } from './tus-raw.ts';

/**
 * Every metric the README lists under Operations → Metrics, read from the real processes'
 * /metrics before and after the traffic that should move it, with the exact change
 * asserted. One cluster per mode (in real mode on databases of its own, since the upload
 * gauges and the sweeps are database-wide), its upload service's database and S3 behind
 * proxies the tests can cut or freeze.
 */
const KiB = 1024;
const MiB = 1024 * KiB;
const API_LIMIT = 200;

interface MetricsCluster {
  cluster: Cluster;
  /** Between the upload service and its database. */
  uploadDb: TcpProxy;
  /** Between the upload service and S3 (real mode). */
  uploadS3?: TcpProxy;
  fresh?: FreshDatabases;
}

const started: MetricsCluster[] = [];
test.after.always(async () => {
  for (const { cluster, uploadDb, uploadS3, fresh } of started) {
    uploadS3?.open();
    uploadDb.open();
    await cluster.stop();
    await uploadDb.close();
    await uploadS3?.close();
    await fresh?.drop();
  }
});

async function startMetricsCluster(mode: Mode): Promise<MetricsCluster> {
  const fresh = mode === 'real' ? await freshDatabases('metrics') : undefined;
  const s3Endpoint = process.env.S3_ENDPOINT;
  const uploadS3 = mode === 'real' ? await TcpProxy.to(s3Endpoint!) : undefined;
  let uploadDb: TcpProxy | undefined;
  const cluster = await startCluster(mode, {
    env: { ...fresh?.env, REGISTRATION_MAX_BACKOFF_SECONDS: '1' },
    serviceEnv: {
      // Behind one trusted proxy, each rate-limit test is its own client address.
      gateway: { TRUST_PROXY_HOPS: '1', RATE_LIMIT_MAX: String(API_LIMIT) },
      upload: uploadS3 ? { S3_ENDPOINT: uploadS3.rewrite(s3Endpoint!), S3_PUBLIC_ENDPOINT: process.env.S3_PUBLIC_ENDPOINT ?? s3Endpoint } : {},
    },
    databaseUrlFor: async (service, url) => {
      if (service !== 'upload') return url;
      uploadDb = await TcpProxy.to(url);
      return uploadDb.rewrite(url);
    },
  });
  const running = { cluster, uploadDb: uploadDb!, uploadS3, fresh };
  started.push(running);
  return running;
}

const scrape = {
  gateway: (c: Cluster) => Scrape.of(`${c.gatewayMetricsUrl}/metrics`),
  auth: (c: Cluster) => Scrape.of(`${c.auth.url}/metrics`),
  files: (c: Cluster) => Scrape.of(`${c.files.url}/metrics`),
  upload: (c: Cluster) => Scrape.of(`${c.uploads[0]!.url}/metrics`),
};

/** Polls the upload service's /metrics until `check` holds (bounded); answers the last scrape. */
async function uploadMetricsWhen(c: Cluster, check: (s: Scrape) => boolean, timeoutMs = 20_000): Promise<Scrape> {
  let last = await scrape.upload(c);
  await eventually(async () => check((last = await scrape.upload(c))), timeoutMs, 100);
  return last;
}

function tusUploadTo(uploadUrl: string, user: TestUser, data: Buffer): Promise<string | undefined> {
  let fileId: string | undefined;
  return new Promise((resolve, reject) => {
    new tus.Upload(data, {
      uploadUrl,
      headers: user.auth,
      chunkSize: 256 * KiB,
      retryDelays: [],
      onAfterResponse: (_req, res) => {
        fileId = res.getHeader('GoVault-File-Id') ?? fileId;
      },
      onSuccess: () => resolve(fileId),
      onError: reject,
    }).start();
  });
}

/**
 * Bytes of a tus upload the store holds, read from the store itself (a PATCH in progress
 * reports its progress only as bytes flow): the upload's file on disk, or in S3 the parts
 * of its multipart upload.
 */
async function storedBytes(c: Cluster, uploadUrl: string): Promise<number> {
  const id = uploadUrl.split('/').pop()!;
  if (c.mode === 'embedded') return (await stat(join(c.dataDir, 'objects', id)).catch(() => undefined))?.size ?? 0;
  const s3 = testS3()!;
  const client = createS3Client(s3.settings);
  try {
    const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket, Prefix: id }));
    const uploadId = uploads.Uploads?.find((u) => u.Key === id)?.UploadId;
    if (!uploadId) return 0;
    const parts = await client.send(new ListPartsCommand({ Bucket: s3.bucket, Key: id, UploadId: uploadId }));
    return (parts.Parts ?? []).reduce((sum, part) => sum + (part.Size ?? 0), 0);
  } finally {
    client.destroy();
  }
}

/** Terminates the upload once the test is over, whatever became of it, so that none stays in flight. */
function cleanUp(t: ExecutionContext, uploadUrl: string, user: TestUser) {
  t.teardown(async () => void (await terminateUpload(uploadUrl, user).catch(() => undefined)));
}

/**
 * A direct (S3 multipart) upload driven as Uppy's @uppy/aws-s3 drives it with
 * `companionEndpoint: '/api/uploads'`: embedded, parts go to the gateway's signed part
 * URLs; real, straight to S3.
 */
function direct(c: Cluster, user: TestUser) {
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${c.baseUrl}/api/uploads/s3/multipart${path}`, {
      method,
      headers: { ...user.auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json().catch(() => undefined)) as any };
  };
  type Created = { uploadId: string; key: string };
  return {
    async create(filename: string): Promise<Created> {
      const created = await call('POST', '', { filename, type: 'application/octet-stream', metadata: { name: filename } });
      if (created.status !== 200) throw new Error(`create answered ${created.status}`);
      return created.body as Created;
    },
    /** Signs part `n` and sends it; its ETag. */
    async putPart(u: Created, n: number, bytes: Uint8Array): Promise<string> {
      const { url } = (await call('GET', `/${u.uploadId}/${n}?key=${u.key}`)).body as { url: string };
      const put = await fetch(url, { method: 'PUT', body: bytes });
      if (put.status !== 200) throw new Error(`part ${n} answered ${put.status}`);
      return put.headers.get('etag')!.replaceAll('"', '');
    },
    list: (u: Created) => call('GET', `/${u.uploadId}?key=${u.key}`),
    complete: (u: Created, etags: string[]) => call('POST', `/${u.uploadId}/complete?key=${u.key}`, { parts: etags.map((ETag, i) => ({ PartNumber: i + 1, ETag })) }),
    abort: (u: Created) => call('DELETE', `/${u.uploadId}?key=${u.key}`),
  };
}

const TUS = { mode: 'tus' };
const DIRECT = { mode: 'direct' };
const UPLOAD_COUNTERS = ['tusd_uploads_created_total', 'tusd_uploads_finished_total', 'tusd_uploads_terminated_total', 'govault_uploads_resumed_total', 'govault_uploads_expired_total', 'tusd_bytes_received_total', 'govault_upload_duration_seconds_count'];

/** The S3 requests of one operation between two scrapes, by outcome. */
const s3Requests = (before: Scrape, after: Scrape, operation: string, outcome = 'ok') =>
  delta(before, after, 'govault_s3_request_duration_seconds_count', { operation, outcome });

/** The gauge of in-flight uploads must be back where a test found it: no test leaves one behind for the next. */
async function assertNothingInFlight(t: ExecutionContext, c: Cluster, active: number) {
  t.is((await scrape.upload(c)).value('govault_uploads_active'), active, 'the test left no upload in flight');
}

/**
 * Two PATCHes on one upload at once: the second asks the first to let go (through the
 * database's NOTIFY in real mode), the first stops reading and answers with what it
 * wrote, the second gets the lock and finds the offset moved. One lock wait, no failure.
 */
async function twoPatchesAtOnce(t: ExecutionContext, cluster: Cluster) {
  const user = await registerAndLogin(cluster.baseUrl);
  const url = await createUpload(cluster.baseUrl, user, 12 * MiB, 'two-writers.bin');
  cleanUp(t, url, user);
  const before = await scrape.upload(cluster);
  const first = openPatch(url, user, 0, 12 * MiB);
  await first.write(randomBytes(9 * MiB));
  t.true(await eventually(async () => (await storedBytes(cluster, url)) > 0, 30_000, 200), 'the first PATCH is writing');

  const second = await patchUpload(url, user, 0, randomBytes(KiB));
  const firstAnswer = await first.answer;
  first.cut();
  t.is(firstAnswer.status, 204, 'the first PATCH keeps what it wrote');
  t.is(second.status, 409, 'the second came with an offset that is no longer the upload\'s');
  const after = await scrape.upload(cluster);
  t.is(delta(before, after, 'govault_tus_lock_waits_total'), 1);
  t.is(delta(before, after, 'govault_tus_lock_wait_seconds_count'), 1);
  t.true(delta(before, after, 'govault_tus_lock_wait_seconds_sum') > 0);
  t.is(delta(before, after, 'govault_uploads_failed_total'), 0, 'no request failed');
}

for (const mode of availableModes()) {
  let setUp: Promise<MetricsCluster> | undefined;
  const clusterOf = () => (setUp ??= startMetricsCluster(mode));

  test.serial(`${mode}: before any upload, every labelled series exists at 0 (both modes, every failure reason), each service reports govault_ready 1 and its event-loop lag`, async (t) => {
    const { cluster } = await clusterOf();
    const upload = await scrape.upload(cluster);
    for (const name of UPLOAD_COUNTERS) {
      for (const mode of [TUS, DIRECT]) t.true(upload.has(name, mode) && upload.value(name, mode) === 0, `${name}{mode="${mode.mode}"} is there at 0`);
    }
    for (const reason of ['checksum', 'aborted', 'locked', 'server']) t.true(upload.has('govault_uploads_failed_total', { mode: 'tus', reason }), `failed{tus,${reason}}`);
    for (const reason of ['parts', 'storage']) t.true(upload.has('govault_uploads_failed_total', { mode: 'direct', reason }), `failed{direct,${reason}}`);
    for (const mode of [TUS, DIRECT]) t.is(upload.value('govault_uploads_active', mode), 0, `active{mode="${mode.mode}"}`);
    t.is(upload.value('govault_uploads_overdue'), 0);
    t.true(upload.has('govault_outbox_delivery_attempts_total'));
    for (const reason of ['unreachable', 'refused']) t.true(upload.has('govault_outbox_delivery_failures_total', { reason }), `outbox failures{${reason}}`);
    t.is(upload.matching('govault_s3_request_duration_seconds_count').length > 0, false, 'no S3 request yet (and none at all in embedded mode)');

    const gateway = await scrape.gateway(cluster);
    for (const upstream of ['auth', 'files', 'upload']) {
      for (const reason of ['next_instance', 'wait']) t.true(gateway.has('govault_gateway_upstream_retries_total', { upstream, reason }), `retries{${upstream},${reason}}`);
    }
    t.true(gateway.has('circuit_breaker_open', { upstream: 'upload', upstream_instance: cluster.uploads[0]!.url }), 'the breaker gauge names the instance upstream_instance');
    t.false(gateway.matching('circuit_breaker_open').some((s) => 'instance' in s.labels), 'no label of ours is called instance (Prometheus sets that one)');
    const pages = { gateway, auth: await scrape.auth(cluster), files: await scrape.files(cluster), upload: await scrape.upload(cluster) };
    for (const [service, page] of Object.entries(pages)) {
      t.is(page.value('govault_ready', { service }), 1, `${service} is ready`);
      t.true(page.has('nodejs_eventloop_lag_p99_seconds', { service }), `${service} exports its event-loop lag (p99)`);
      t.true(page.value('nodejs_eventloop_lag_p99_seconds', { service }) >= 0);
    }
  });

  test.serial(`${mode}: http_requests_total and http_request_duration_seconds count each request on the gateway and on the service that answered, labelled service`, async (t) => {
    const { cluster } = await clusterOf();
    const user = await registerAndLogin(cluster.baseUrl);
    const calls = [
      { service: 'auth', route: '/api/auth/me' },
      { service: 'files', route: '/api/files' },
      { service: 'upload', route: '/api/uploads' },
    ] as const;
    const before = { gateway: await scrape.gateway(cluster), auth: await scrape.auth(cluster), files: await scrape.files(cluster), upload: await scrape.upload(cluster) };
    for (const { route } of calls) t.is((await fetch(`${cluster.baseUrl}${route}`, { headers: user.auth })).status, 200, route);
    const after = { gateway: await scrape.gateway(cluster), auth: await scrape.auth(cluster), files: await scrape.files(cluster), upload: await scrape.upload(cluster) };

    for (const { service, route } of calls) {
      for (const [where, name] of [['gateway', 'gateway'], [service, service]] as const) {
        const labels = { service: name, method: 'GET', route, status: '200' };
        t.is(delta(before[where], after[where], 'http_requests_total', labels), 1, `${name}: http_requests_total ${route}`);
        t.is(delta(before[where], after[where], 'http_request_duration_seconds_count', labels), 1, `${name}: duration count ${route}`);
        t.true(delta(before[where], after[where], 'http_request_duration_seconds_sum', labels) > 0, `${name}: duration sum ${route}`);
      }
    }
    for (const [service, page] of Object.entries(after)) {
      const series = page.matching('http_requests_total');
      t.true(series.length > 0 && series.every((s) => s.labels.service === service), `every http_requests_total on ${service} says service="${service}"`);
      t.true(page.has('process_cpu_seconds_total', { service }), `${service} exports the Node.js process metrics`);
    }
  });

  test.serial(`${mode}: a tus upload moves created, active (up, then down), bytes received, finished and the duration histogram by exactly its own share`, async (t) => {
    const { cluster } = await clusterOf();
    const user = await registerAndLogin(cluster.baseUrl);
    const data = randomBytes(MiB + 123);
    const before = await scrape.upload(cluster);
    const url = await createUpload(cluster.baseUrl, user, data.length, 'metrics.bin');
    const created = await scrape.upload(cluster);
    t.is(delta(before, created, 'tusd_uploads_created_total'), 1);
    t.is(delta(before, created, 'govault_uploads_active'), 1, 'one more upload in flight');

    const fileId = await tusUploadTo(url, user, data);
    t.truthy(fileId);
    const after = await scrape.upload(cluster);
    t.is(delta(before, after, 'tusd_uploads_created_total'), 1, 'tus-js-client continued the upload, it did not create another');
    for (const name of UPLOAD_COUNTERS) t.is(delta(before, after, name, DIRECT), 0, `${name}{mode="direct"} did not move`);
    t.is(delta(before, after, 'tusd_uploads_finished_total', TUS), 1);
    t.is(delta(before, after, 'tusd_bytes_received_total', TUS), data.length);
    t.is(delta(before, after, 'tusd_bytes_received_total'), data.length);
    if (mode === 'real') {
      const requests = after.matching('govault_s3_request_duration_seconds_count');
      t.true(requests.every((r) => /^[A-Z][A-Za-z]+$/.test(r.labels.operation!) && !r.labels.operation!.endsWith('Command') && ['ok', 'error'].includes(r.labels.outcome!)), 'operation is the bare command name, outcome ok|error');
      t.true(s3Requests(before, after, 'CreateMultipartUpload') >= 1, 'the tus store\'s own S3 client is timed');
      t.true(s3Requests(before, after, 'UploadPart') + s3Requests(before, after, 'PutObject') >= 1, 'its bytes went to S3 in timed requests');
      t.true(delta(before, after, 'govault_s3_request_duration_seconds_sum') > 0);
    }
    t.is(delta(before, after, 'tusd_uploads_finished_total'), 1);
    t.is(delta(before, after, 'govault_upload_duration_seconds_count'), 1);
    t.true(delta(before, after, 'govault_upload_duration_seconds_sum') > 0);
    t.is(delta(before, after, 'govault_uploads_active'), 0, 'the finished upload is no longer in flight');
    t.is(delta(before, after, 'govault_uploads_resumed_total'), 0, 'a HEAD on an upload holding no bytes is no resume');
    t.is(delta(before, after, 'govault_uploads_failed_total'), 0);

    // Termination of an upload in flight.
    const doomed = await createUpload(cluster.baseUrl, user, 4 * KiB, 'doomed.bin');
    cleanUp(t, doomed, user);
    t.is((await patchUpload(doomed, user, 0, randomBytes(KiB))).status, 204);
    const beforeDelete = await scrape.upload(cluster);
    t.is((await terminateUpload(doomed, user)).status, 204);
    // The session is marked terminated just after the answer.
    const deleted = await uploadMetricsWhen(cluster, (s) => delta(beforeDelete, s, 'govault_uploads_active') === -1);
    t.is(delta(beforeDelete, deleted, 'tusd_uploads_terminated_total'), 1);
    t.is(delta(beforeDelete, deleted, 'govault_uploads_active'), -1);
    await assertNothingInFlight(t, cluster, before.value('govault_uploads_active'));
  });

  test.serial(`${mode}: a direct multipart upload moves the direct series by exactly its share (created, active, finished, completed bytes, duration) and no tus one`, async (t) => {
    const { cluster } = await clusterOf();
    const user = await registerAndLogin(cluster.baseUrl);
    const api = direct(cluster, user);
    const data = randomBytes(96 * KiB + 5);
    const before = await scrape.upload(cluster);
    const u = await api.create('direct-metrics.bin');
    const created = await scrape.upload(cluster);
    t.is(delta(before, created, 'tusd_uploads_created_total', DIRECT), 1);
    t.is(delta(before, created, 'govault_uploads_active', DIRECT), 1, 'one more direct upload in flight');
    t.is(delta(before, created, 'tusd_uploads_created_total', TUS), 0);
    t.is(delta(before, created, 'govault_uploads_active', TUS), 0);
    if (mode === 'real') t.is(s3Requests(before, created, 'CreateMultipartUpload'), 1, 'the create is one timed S3 request');

    const etag = await api.putPart(u, 1, data);
    const done = await api.complete(u, [etag]);
    t.is(done.status, 200);
    t.truthy(done.body.fileId);
    const after = await scrape.upload(cluster);
    t.is(delta(before, after, 'tusd_uploads_finished_total', DIRECT), 1);
    t.is(delta(before, after, 'tusd_bytes_received_total', DIRECT), data.length, 'the completed object\'s size');
    t.is(delta(before, after, 'govault_upload_duration_seconds_count', DIRECT), 1);
    t.true(delta(before, after, 'govault_upload_duration_seconds_sum', DIRECT) > 0);
    t.is(delta(before, after, 'govault_uploads_active', DIRECT), 0, 'the completed upload is no longer in flight');
    t.is(delta(before, after, 'govault_uploads_failed_total'), 0);
    t.is(delta(before, after, 'govault_uploads_resumed_total'), 0);
    for (const name of UPLOAD_COUNTERS) t.is(delta(before, after, name, TUS), 0, `${name}{mode="tus"} did not move`);
    if (mode === 'real') {
      t.is(s3Requests(created, after, 'CompleteMultipartUpload'), 1);
      t.true(s3Requests(created, after, 'ListParts') >= 1, 'complete checks the parts S3 holds');
      t.is(s3Requests(before, after, 'UploadPart'), 0, 'the part went from the client to S3 on a presigned URL: not a request of ours');
    }
    // Completing again answers the same file and counts nothing more.
    t.is((await api.complete(u, [etag])).body.fileId, done.body.fileId);
    t.is(delta(after, await scrape.upload(cluster), 'tusd_uploads_finished_total'), 0, 'a repeated complete is not another upload');

    // An abort.
    const doomed = await api.create('direct-doomed.bin');
    await api.putPart(doomed, 1, randomBytes(KiB));
    const beforeAbort = await scrape.upload(cluster);
    t.is((await api.abort(doomed)).status, 200);
    const aborted = await scrape.upload(cluster);
    t.is(delta(beforeAbort, aborted, 'tusd_uploads_terminated_total', DIRECT), 1);
    t.is(delta(beforeAbort, aborted, 'tusd_uploads_terminated_total', TUS), 0);
    t.is(delta(beforeAbort, aborted, 'govault_uploads_active', DIRECT), -1);
    await assertNothingInFlight(t, cluster, before.value('govault_uploads_active'));
  });

  test.serial(`${mode}: a direct complete with a part list the store does not hold counts failed{mode="direct",reason="parts"} once; the right list then completes it`, async (t) => {
    const { cluster } = await clusterOf();
    const user = await registerAndLogin(cluster.baseUrl);
    const api = direct(cluster, user);
    const u = await api.create('direct-parts.bin');
    t.teardown(async () => void (await api.abort(u).catch(() => undefined)));
    const etag = await api.putPart(u, 1, randomBytes(8 * KiB));
    const before = await scrape.upload(cluster);
    const refused = await api.complete(u, ['0123456789abcdef0123456789abcdef']);
    t.is(refused.status, 400);
    const afterRefusal = await scrape.upload(cluster);
    t.is(delta(before, afterRefusal, 'govault_uploads_failed_total', { mode: 'direct', reason: 'parts' }), 1);
    t.is(delta(before, afterRefusal, 'govault_uploads_failed_total'), 1, 'no other mode or reason moved');
    t.is(delta(before, afterRefusal, 'tusd_uploads_finished_total'), 0);
    t.is((await api.complete(u, [etag])).status, 200);
    const after = await scrape.upload(cluster);
    t.is(delta(afterRefusal, after, 'govault_uploads_failed_total'), 0);
    t.is(delta(afterRefusal, after, 'tusd_uploads_finished_total', DIRECT), 1);
  });

  test.serial(`${mode}: a list-parts after a gap on a direct upload holding parts counts one direct resume; the list right after it, none`, async (t) => {
    const { cluster } = await clusterOf();
    const user = await registerAndLogin(cluster.baseUrl);
    const api = direct(cluster, user);
    const empty = await api.create('direct-empty.bin');
    const u = await api.create('direct-resume.bin');
    t.teardown(async () => {
      for (const upload of [empty, u]) await api.abort(upload).catch(() => undefined);
    });
    await api.putPart(u, 1, randomBytes(16 * KiB));
    const before = await scrape.upload(cluster);
    t.is((await api.list(u)).status, 200);
    t.is(delta(before, await scrape.upload(cluster), 'govault_uploads_resumed_total'), 0, 'a list right after the part is no resume');
    // The gap of the tus rule (10 s without activity).
    await new Promise((resolve) => setTimeout(resolve, 10_500));
    const gapped = await scrape.upload(cluster);
    t.is((await api.list(empty)).status, 200);
    t.is(delta(gapped, await scrape.upload(cluster), 'govault_uploads_resumed_total'), 0, 'an upload holding no part is no resume');
    const listed = await api.list(u);
    t.is(listed.body.length, 1);
    const resumed = await scrape.upload(cluster);
    t.is(delta(gapped, resumed, 'govault_uploads_resumed_total', DIRECT), 1);
    t.is(delta(gapped, resumed, 'govault_uploads_resumed_total', TUS), 0);
    t.is((await api.list(u)).status, 200);
    t.is(delta(resumed, await scrape.upload(cluster), 'govault_uploads_resumed_total'), 0, 'the same interruption is one resume');
  });

  if (mode === 'real') {
    test.serial(`${mode}: a direct complete while S3 is unreachable counts failed{mode="direct",reason="storage"} and S3 requests with outcome error; once S3 is back it completes`, async (t) => {
      const { cluster, uploadS3 } = await clusterOf();
      const user = await registerAndLogin(cluster.baseUrl);
      const api = direct(cluster, user);
      const u = await api.create('direct-storage.bin');
      t.teardown(async () => void (await api.abort(u).catch(() => undefined)));
      const etag = await api.putPart(u, 1, randomBytes(8 * KiB));
      const before = await scrape.upload(cluster);
      uploadS3!.down();
      let status: number;
      try {
        status = (await api.complete(u, [etag])).status;
      } finally {
        uploadS3!.open();
      }
      t.true(status >= 500, `answered ${status}`);
      const after = await scrape.upload(cluster);
      t.is(delta(before, after, 'govault_uploads_failed_total', { mode: 'direct', reason: 'storage' }), 1);
      t.is(delta(before, after, 'govault_uploads_failed_total'), 1, 'no other mode or reason moved');
      t.true(s3Requests(before, after, 'ListParts', 'error') >= 1, 'the failed S3 request is timed with outcome="error"');
      t.is(s3Requests(before, after, 'ListParts'), 0);
      t.is((await api.complete(u, [etag])).status, 200);
      t.is(delta(after, await scrape.upload(cluster), 'tusd_uploads_finished_total', DIRECT), 1);
    });

    test.serial(`${mode}: the files service times its S3 requests (HeadBucket of each readiness check) and not the presigned download URLs it hands out`, async (t) => {
      const { cluster } = await clusterOf();
      const user = await registerAndLogin(cluster.baseUrl);
      const url = await createUpload(cluster.baseUrl, user, KiB, 'presigned.bin');
      const done = await patchUpload(url, user, 0, randomBytes(KiB));
      const fileId = done.headers.get('govault-file-id')!;
      const before = await scrape.files(cluster);
      const download = await fetch(`${cluster.baseUrl}/api/files/${fileId}/content`, { headers: user.auth, redirect: 'manual' });
      t.is(download.status, 302);
      await download.body?.cancel();
      const after = await scrape.files(cluster);
      t.true(s3Requests(before, after, 'HeadBucket') >= 1, 'the scrape\'s readiness check asked S3');
      t.is(s3Requests(before, after, 'GetObject'), 0, 'a presigned URL is no request');
      t.is(delta(before, after, 'govault_s3_request_duration_seconds_count', { outcome: 'error' }), 0);
    });
  }

  test.serial(`${mode}: a PATCH whose Upload-Checksum does not match counts failed{reason="checksum"} and no byte`, async (t) => {
    const { cluster } = await clusterOf();
    const user = await registerAndLogin(cluster.baseUrl);
    const chunk = randomBytes(64 * KiB);
    const url = await createUpload(cluster.baseUrl, user, chunk.length, 'checksum.bin');
    cleanUp(t, url, user);
    const before = await scrape.upload(cluster);
    const wrong = createHash('sha1').update('something else').digest('base64');
    t.is((await patchUpload(url, user, 0, chunk, { 'Upload-Checksum': `sha1 ${wrong}` })).status, 460);
    const refused = await scrape.upload(cluster);
    t.is(delta(before, refused, 'govault_uploads_failed_total', { reason: 'checksum' }), 1);
    t.is(delta(before, refused, 'govault_uploads_failed_total'), 1, 'no other reason moved');
    t.is(delta(before, refused, 'tusd_bytes_received_total'), 0);

    const right = createHash('sha1').update(chunk).digest('base64');
    t.is((await patchUpload(url, user, 0, chunk, { 'Upload-Checksum': `sha1 ${right}` })).status, 204);
    const accepted = await scrape.upload(cluster);
    t.is(delta(refused, accepted, 'tusd_bytes_received_total'), chunk.length);
    t.is(delta(refused, accepted, 'govault_uploads_failed_total'), 0);
    t.is(delta(refused, accepted, 'tusd_uploads_finished_total'), 1);
  });

  test.serial(`${mode}: a PATCH the client cuts off counts failed{reason="aborted"}, the bytes kept count as received, and the HEAD that follows is a resume`, async (t) => {
    const { cluster } = await clusterOf();
    const user = await registerAndLogin(cluster.baseUrl);
    const data = randomBytes(12 * MiB);
    const url = await createUpload(cluster.baseUrl, user, data.length, 'cut.bin');
    cleanUp(t, url, user);
    const before = await scrape.upload(cluster);
    t.is((await patchUpload(url, user, 0, data.subarray(0, MiB))).status, 204);

    // More than one S3 part (8 MiB), so that the store holds some of it before the cut in both modes.
    const cut = openPatch(url, user, MiB, data.length - MiB);
    await cut.write(data.subarray(MiB, 10 * MiB));
    t.true(await eventually(async () => (await storedBytes(cluster, url)) > MiB, 30_000, 200), 'the server stored bytes of the PATCH before the cut');
    cut.cut();
    const afterCut = await uploadMetricsWhen(cluster, (s) => delta(before, s, 'govault_uploads_failed_total', { reason: 'aborted' }) === 1);
    t.is(delta(before, afterCut, 'govault_uploads_failed_total', { reason: 'aborted' }), 1);
    t.is(delta(before, afterCut, 'govault_uploads_failed_total'), 1, 'no other reason moved');

    const head = await headUpload(url, user);
    const kept = Number(head.headers.get('upload-offset'));
    t.true(kept > MiB && kept <= 10 * MiB, `the server kept ${kept} bytes`);
    const resumed = await scrape.upload(cluster);
    t.is(delta(afterCut, resumed, 'govault_uploads_resumed_total'), 1, 'the HEAD after the interruption is a resume');
    t.is(delta(before, resumed, 'tusd_bytes_received_total'), kept, 'bytes received = what the server holds, the cut PATCH\'s share included');

    t.is((await patchUpload(url, user, kept, data.subarray(kept))).status, 204);
    const done = await scrape.upload(cluster);
    t.is(delta(before, done, 'tusd_bytes_received_total'), data.length, 'over the whole upload, every byte once');
    t.is(delta(before, done, 'tusd_uploads_finished_total'), 1);
    t.is(delta(resumed, done, 'govault_uploads_resumed_total'), 0, 'a PATCH right after the HEAD is the same resume');
  });

  test.serial(`${mode}: a PATCH that waits for another one's lock counts a lock wait with its time`, async (t) => {
    const { cluster } = await clusterOf();
    await twoPatchesAtOnce(t, cluster);
  });

  if (mode === 'real') {
    test.serial(`${mode}: a PATCH that cannot get the lock while S3 hangs under the holder is answered 423 and counts failed{reason="locked"}`, async (t) => {
      const { cluster, uploadS3 } = await clusterOf();
      const user = await registerAndLogin(cluster.baseUrl);
      const url = await createUpload(cluster.baseUrl, user, 12 * MiB, 'frozen.bin');
      cleanUp(t, url, user);
      const before = await scrape.upload(cluster);
      const first = openPatch(url, user, 0, 12 * MiB);
      await first.write(randomBytes(9 * MiB));
      t.true(await eventually(async () => (await storedBytes(cluster, url)) >= 8 * MiB, 30_000, 200), 'the first PATCH stored its first part');
      uploadS3!.freeze();
      try {
        const second = await patchUpload(url, user, 8 * MiB, randomBytes(KiB));
        t.is(second.status, 423);
      } finally {
        uploadS3!.open();
      }
      t.is((await first.answer).status, 204, 'the holder finishes once S3 answers again');
      first.cut();
      const after = await scrape.upload(cluster);
      t.is(delta(before, after, 'govault_uploads_failed_total', { reason: 'locked' }), 1);
      t.is(delta(before, after, 'govault_uploads_failed_total'), 1, 'no other reason moved');
      t.is((await terminateUpload(url, user)).status, 204);
    });
  }

  test.serial(`${mode}: a PATCH the upload service cannot serve (its database unreachable) counts failed{reason="server"}, and after the outage uploads and their locks work again`, async (t) => {
    const { cluster, uploadDb } = await clusterOf();
    const user = await registerAndLogin(cluster.baseUrl);
    const chunk = randomBytes(16 * KiB);
    const url = await createUpload(cluster.baseUrl, user, 2 * chunk.length, 'server.bin');
    cleanUp(t, url, user);
    const before = await scrape.upload(cluster);
    // A database outage of a few seconds, as a restart or a failover makes one.
    uploadDb.down();
    let status: number;
    try {
      status = (await patchUpload(url, user, 0, chunk)).status;
      await new Promise((resolve) => setTimeout(resolve, 3_000));
    } finally {
      uploadDb.open();
    }
    t.is(status, 503);
    const after = await scrape.upload(cluster);
    t.is(delta(before, after, 'govault_uploads_failed_total', { reason: 'server' }), 1);
    t.is(delta(before, after, 'govault_uploads_failed_total'), 1, 'no other reason moved');
    t.is(delta(before, after, 'tusd_bytes_received_total'), 0);
    // The same process serves again: the upload goes on, and a PATCH still makes the holder of a lock let go.
    t.true(await eventually(async () => (await patchUpload(url, user, 0, chunk)).status === 204, 20_000, 250));
    await twoPatchesAtOnce(t, cluster);
  });

  test.serial(`${mode}: govault_ready goes 0 on the upload service and the gateway while the upload database is unreachable, and back to 1 after; the scrape itself never fails`, async (t) => {
    const { cluster, uploadDb } = await clusterOf();
    const ready = async () => ({ upload: (await scrape.upload(cluster)).value('govault_ready'), gateway: (await scrape.gateway(cluster)).value('govault_ready') });
    t.deepEqual(await ready(), { upload: 1, gateway: 1 });
    uploadDb.down();
    let during: { upload: number; gateway: number };
    try {
      during = await ready();
    } finally {
      uploadDb.open();
    }
    t.deepEqual(during, { upload: 0, gateway: 0 }, 'not ready while its database is away (the gateway: no upload instance ready)');
    t.true(await eventually(async () => (await ready()).upload === 1 && (await ready()).gateway === 1, 20_000, 250), 'ready again');
  });

  test.serial(`${mode}: the expiry sweeps of an upload instance with a short expiry count each tus and direct upload they expire; govault_uploads_overdue shows them until then`, async (t) => {
    const { cluster } = await clusterOf();
    const user = await registerAndLogin(cluster.baseUrl);
    // (Uploads the earlier tests terminated leave the gauge just after their answer.)
    const idle = await uploadMetricsWhen(cluster, (s) => s.value('govault_uploads_active') === 0, 10_000);
    t.is(idle.value('govault_uploads_active'), 0, 'nothing else is in flight for the sweep to take');
    const url = await createUpload(cluster.baseUrl, user, 8 * KiB, 'expiring.bin');
    cleanUp(t, url, user);
    t.is((await patchUpload(url, user, 0, randomBytes(KiB))).status, 204);
    const api = direct(cluster, user);
    const abandoned = await api.create('abandoned.bin');
    await api.putPart(abandoned, 1, randomBytes(KiB));
    const before = await scrape.upload(cluster);
    t.is(before.value('govault_uploads_overdue'), 0, 'within the long expiry of the cluster\'s instance nothing is overdue');

    // A second upload instance on the same database and storage, with a 2 s expiry.
    const port = await freePort();
    const sweeper = new ServiceProcess('upload-sweeper', port, join(ROOT, 'server/upload/src/main.ts'), {
      ...cluster.env,
      UPLOAD_PORT: String(port),
      UPLOAD_EXPIRY_SECONDS: '2',
      // Its first sweep comes 6 s after it starts: until then the two are overdue.
      UPLOAD_EXPIRY_SWEEP_SECONDS: '6',
    }, '/readyz', ROOT, 'upload');
    try {
      await sweeper.start();
      const sweeperMetrics = () => Scrape.of(`${sweeper.url}/metrics`);
      const overdue = await eventually(async () => (await sweeperMetrics()).value('govault_uploads_overdue') === 2, 5_000, 100);
      t.true(overdue, 'past its 2 s expiry, the tus and the direct upload are overdue');
      t.true(await eventually(async () => (await sweeperMetrics()).value('govault_uploads_expired_total') >= 2, 20_000, 200), 'the sweeps expired the uploads');
      const swept = await sweeperMetrics();
      t.is(swept.value('govault_uploads_expired_total', TUS), 1, 'the tus upload and no other');
      t.is(swept.value('govault_uploads_expired_total', DIRECT), 1, 'the direct upload and no other');
      t.is(swept.value('govault_uploads_overdue'), 0, 'nothing overdue once swept');
    } finally {
      await sweeper.kill('SIGTERM');
    }
    t.is((await headUpload(url, user)).status, 410);
    t.is((await api.list(abandoned)).status, 404, 'the direct upload is gone');
    const after = await scrape.upload(cluster);
    t.is(delta(before, after, 'govault_uploads_active', TUS), -1, 'the expired upload is no longer in flight');
    t.is(delta(before, after, 'govault_uploads_active', DIRECT), -1, 'nor the abandoned direct one');
    t.is(delta(before, after, 'govault_uploads_expired_total'), 0, 'the instance with the long expiry expired nothing');
  });

  test.serial(`${mode}: while files is down, the outbox backlog grows by each completed upload, its attempts fail as unreachable and the breakers to files open; after its restart the backlog drains to 0 (one refused for good), and they close`, async (t) => {
    const { cluster } = await clusterOf();
    const [user, other] = [await registerAndLogin(cluster.baseUrl), await registerAndLogin(cluster.baseUrl)];
    // An upload whose id is already another user's file: once files is back, the outbox's attempt is refused for good.
    const doomed = await createUpload(cluster.baseUrl, user, 2 * KiB, 'refused-by-outbox.bin');
    const doomedId = doomed.split('/').pop()!;
    const asUpload = InternalTokenIssuer.fromKeyDir(join(cluster.dataDir, 'keys'), 'upload');
    const taken = await fetch(`${cluster.files.url}/internal/files`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-internal-token': asUpload.issue('files', { userId: other.id }) },
      body: JSON.stringify({ uploadId: doomedId, ownerId: other.id, name: 'theirs.bin', size: 2 * KiB, contentType: 'application/octet-stream', storageKey: `elsewhere/${doomedId}` }),
    });
    t.is(taken.status, 201);
    const instance = { upstream: 'files', upstream_instance: cluster.files.url };
    const [uploadBefore, gatewayBefore] = [await scrape.upload(cluster), await scrape.gateway(cluster)];
    t.is(uploadBefore.value('govault_registration_outbox_backlog'), 0);
    t.is(uploadBefore.value('circuit_breaker_open', { upstream: 'files' }), 0);
    t.is(gatewayBefore.value('circuit_breaker_open', instance), 0);

    await cluster.files.kill();
    t.teardown(async () => void (cluster.files.running || (await cluster.files.start())));
    const count = 5;
    for (let i = 0; i < count; i++) {
      // creation-with-upload: one request creates and completes it.
      const bytes = randomBytes(2 * KiB);
      const response = await fetch(`${cluster.baseUrl}/api/uploads/tus`, {
        method: 'POST',
        headers: { ...user.auth, 'Tus-Resumable': '1.0.0', 'Upload-Length': String(bytes.length), 'Upload-Metadata': `filename ${Buffer.from(`outbox-${i}.bin`).toString('base64')}`, 'Content-Type': 'application/offset+octet-stream' },
        body: bytes,
      });
      t.is(response.status, 201);
      t.is(response.headers.get('upload-offset'), String(bytes.length));
      t.is(response.headers.get('govault-file-id'), null, 'files is down: no file yet');
    }
    t.is((await patchUpload(doomed, user, 0, randomBytes(2 * KiB))).status, 204);
    const waiting = await scrape.upload(cluster);
    t.is(delta(uploadBefore, waiting, 'govault_registration_outbox_backlog'), count + 1);
    t.is(delta(uploadBefore, waiting, 'tusd_uploads_finished_total'), count + 1);
    // The outbox sweep (every second) tries them and fails: files is unreachable.
    const failing = await uploadMetricsWhen(cluster, (s) => delta(uploadBefore, s, 'govault_outbox_delivery_failures_total', { reason: 'unreachable' }) >= count + 1);
    t.true(delta(uploadBefore, failing, 'govault_outbox_delivery_attempts_total') >= count + 1, 'each queued registration was tried');
    t.is(delta(uploadBefore, failing, 'govault_outbox_delivery_failures_total', { reason: 'refused' }), 0);
    const open = await uploadMetricsWhen(cluster, (s) => s.value('circuit_breaker_open', { upstream: 'files' }) === 1);
    t.is(open.value('circuit_breaker_open', { upstream: 'files' }), 1, 'upload\'s breaker to files is open');

    // The gateway's own breaker to the files instance: open after a few failed calls.
    let gatewayOpen: Scrape | undefined;
    for (let i = 0; i < 50 && !gatewayOpen; i++) {
      t.is((await fetch(`${cluster.baseUrl}/api/files`, { headers: user.auth })).status, 503);
      const page = await scrape.gateway(cluster);
      if (page.value('circuit_breaker_open', instance) === 1) gatewayOpen = page;
    }
    t.truthy(gatewayOpen, 'the gateway\'s breaker to files opened');
    t.is(delta(gatewayBefore, gatewayOpen!, 'circuit_breaker_transitions_total', { ...instance, state: 'open' }), 1);

    await cluster.files.start();
    const drained = await uploadMetricsWhen(cluster, (s) => s.value('govault_registration_outbox_backlog') === 0 && s.value('circuit_breaker_open', { upstream: 'files' }) === 0, 60_000);
    t.is(drained.value('govault_registration_outbox_backlog'), 0, 'every queued registration delivered (or refused)');
    const attempts = delta(uploadBefore, drained, 'govault_outbox_delivery_attempts_total');
    const unreachable = delta(uploadBefore, drained, 'govault_outbox_delivery_failures_total', { reason: 'unreachable' });
    t.is(delta(uploadBefore, drained, 'govault_outbox_delivery_failures_total', { reason: 'refused' }), 1, 'the taken upload id, refused for good');
    t.is(attempts - unreachable - 1, count, 'every attempt that did not fail registered a file, each once');
    t.is(delta(uploadBefore, drained, 'govault_registration_failed'), 1);
    t.is(drained.value('circuit_breaker_open', { upstream: 'files' }), 0, 'upload\'s breaker closed');
    t.true(await eventually(async () => (await scrape.gateway(cluster)).value('circuit_breaker_open', instance) === 0, 20_000, 200));
    const gatewayAfter = await scrape.gateway(cluster);
    t.is(delta(gatewayBefore, gatewayAfter, 'circuit_breaker_transitions_total', { ...instance, state: 'closed' }), 1);
    const files = await getJson<{ items: Array<{ name: string }> }>(`${cluster.baseUrl}/api/files`, user.auth);
    t.deepEqual(files.body.items.map((f) => f.name).sort(), Array.from({ length: count }, (_, i) => `outbox-${i}.bin`));
  });

  test.serial(`${mode}: a registration the files service refuses counts govault_registration_failed and failures_total{reason} once`, async (t) => {
    const { cluster } = await clusterOf();
    const [user, other] = [await registerAndLogin(cluster.baseUrl), await registerAndLogin(cluster.baseUrl)];
    const data = randomBytes(4 * KiB);
    const url = await createUpload(cluster.baseUrl, user, data.length, 'taken.bin');
    const uploadId = url.split('/').pop()!;
    // The upload id is already another user's file (another upload service on this files
    // database registered it): the files service must refuse this one with 409.
    const asUpload = InternalTokenIssuer.fromKeyDir(join(cluster.dataDir, 'keys'), 'upload');
    const taken = await fetch(`${cluster.files.url}/internal/files`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-internal-token': asUpload.issue('files', { userId: other.id }) },
      body: JSON.stringify({ uploadId, ownerId: other.id, name: 'theirs.bin', size: data.length, contentType: 'application/octet-stream', storageKey: `elsewhere/${uploadId}` }),
    });
    t.is(taken.status, 201);

    const before = await scrape.upload(cluster);
    const done = await patchUpload(url, user, 0, data);
    t.is(done.status, 204);
    t.regex(done.headers.get('govault-registration-error') ?? '', /^conflict: /);
    const refused = await scrape.upload(cluster);
    t.is(delta(before, refused, 'govault_registration_failed'), 1);
    t.is(delta(before, refused, 'govault_registration_failures_total', { reason: 'conflict' }), 1);
    t.is(delta(before, refused, 'govault_registration_outbox_backlog'), 0, 'a refusal is not retried');
    // Asking again (Uppy's HEAD on a finished file) does not count it again.
    t.regex((await headUpload(url, user)).headers.get('govault-registration-error') ?? '', /^conflict: /);
    const again = await scrape.upload(cluster);
    t.is(delta(before, again, 'govault_registration_failures_total'), 1);
    t.is(delta(before, again, 'govault_registration_failed'), 1);
  });

  test.serial(`${mode}: requests past a rate limit count rate_limited_requests_total by rule (credentials, api)`, async (t) => {
    const { cluster } = await clusterOf();
    const limitedBy = async (rule: string, send: () => Promise<Response>, most: number) => {
      const before = await scrape.gateway(cluster);
      let limited = 0;
      for (let i = 0; i < most && limited < 3; i++) {
        const response = await send();
        await response.body?.cancel();
        if (response.status === 429) limited++;
      }
      const after = await scrape.gateway(cluster);
      t.is(limited, 3, `${rule}: three requests past the limit were refused`);
      t.is(delta(before, after, 'rate_limited_requests_total', { rule }), limited, `${rule}: one count per 429`);
      return delta(before, after, 'rate_limited_requests_total');
    };
    // Each rule from a client address of its own (the gateway trusts one proxy here).
    const credentialsIp = `198.51.100.${1 + Math.floor(Math.random() * 250)}`;
    const moved = await limitedBy(
      'credentials',
      () => fetch(`${cluster.baseUrl}/api/auth/refresh`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': credentialsIp }, body: JSON.stringify({ refreshToken: 'not-a-token' }) }),
      2 * 60 + 10,
    );
    t.is(moved, 3, 'the other rule did not move');
    const apiIp = `203.0.113.${1 + Math.floor(Math.random() * 250)}`;
    await limitedBy('api', () => fetch(`${cluster.baseUrl}/api/public/files/${randomUUID()}`, { headers: { 'x-forwarded-for': apiIp } }), 2 * API_LIMIT + 10);
  });
  // The gateway's retry logic does not depend on the storage mode: one run, on a cluster of its own with two upload instances.
  if (mode === 'embedded') {
    test.serial(`${mode}: the gateway counts retries{upstream="upload",reason="next_instance"} while an upload instance is down and the other serves, and reason="wait" for each wait while the only one left restarts`, async (t) => {
      const cluster = await startCluster(mode, { uploadInstances: 2 });
      t.teardown(() => cluster.stop());
      const user = await registerAndLogin(cluster.baseUrl);
      const retries = (reason: string) => ({ upstream: 'upload', reason });
      const list = async () => {
        const response = await fetch(`${cluster.baseUrl}/api/uploads`, { headers: user.auth });
        await response.body?.cancel();
        return response.status;
      };
      const before = await scrape.gateway(cluster);
      t.is(delta(before, before, 'govault_gateway_upstream_retries_total'), 0);
      for (let i = 0; i < 4; i++) t.is(await list(), 200);
      const healthy = await scrape.gateway(cluster);
      t.is(delta(before, healthy, 'govault_gateway_upstream_retries_total'), 0, 'no retry while both instances serve');

      await cluster.uploads[0]!.kill();
      for (let i = 0; i < 4; i++) t.is(await list(), 200, 'the other instance answers');
      const movedOn = await scrape.gateway(cluster);
      const nextInstance = delta(healthy, movedOn, 'govault_gateway_upstream_retries_total', retries('next_instance'));
      t.true(nextInstance >= 1 && nextInstance <= 4, `${nextInstance} requests found the stopped instance first and moved on`);
      t.is(delta(healthy, movedOn, 'govault_gateway_upstream_retries_total', retries('wait')), 0, 'another instance was there: nobody waited');

      await cluster.uploads[1]!.kill();
      const waiting = list();
      await new Promise((resolve) => setTimeout(resolve, 500));
      await cluster.uploads[0]!.start();
      t.is(await waiting, 200, 'the request waited for the restarted instance');
      const after = await scrape.gateway(cluster);
      t.true(delta(movedOn, after, 'govault_gateway_upstream_retries_total', retries('wait')) >= 1, 'each pause counted as a wait');
      t.is(delta(movedOn, after, 'govault_gateway_upstream_retries_total', { upstream: 'files' }), 0, 'only the upload upstream retried');
    });
  }

}
