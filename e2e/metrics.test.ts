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
    t.is(delta(before, after, 'tusd_bytes_received_total'), data.length);
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

  test.serial(`${mode}: the expiry sweep of an upload instance with a short expiry counts each upload it expires`, async (t) => {
    const { cluster } = await clusterOf();
    const user = await registerAndLogin(cluster.baseUrl);
    // (Uploads the earlier tests terminated leave the gauge just after their answer.)
    const idle = await uploadMetricsWhen(cluster, (s) => s.value('govault_uploads_active') === 0, 10_000);
    t.is(idle.value('govault_uploads_active'), 0, 'nothing else is in flight for the sweep to take');
    const url = await createUpload(cluster.baseUrl, user, 8 * KiB, 'expiring.bin');
    cleanUp(t, url, user);
    t.is((await patchUpload(url, user, 0, randomBytes(KiB))).status, 204);
    const before = await scrape.upload(cluster);

    // A second upload instance on the same database and storage, with a 2 s expiry.
    const port = await freePort();
    const sweeper = new ServiceProcess('upload-sweeper', port, join(ROOT, 'server/upload/src/main.ts'), {
      ...cluster.env,
      UPLOAD_PORT: String(port),
      UPLOAD_EXPIRY_SECONDS: '2',
      UPLOAD_EXPIRY_SWEEP_SECONDS: '1',
    }, '/readyz', ROOT, 'upload');
    try {
      await sweeper.start();
      const sweeperMetrics = () => Scrape.of(`${sweeper.url}/metrics`);
      t.true(await eventually(async () => (await sweeperMetrics()).value('govault_uploads_expired_total') >= 1, 20_000, 200), 'the sweep expired the upload');
      t.is((await sweeperMetrics()).value('govault_uploads_expired_total'), 1, 'that upload and no other');
    } finally {
      await sweeper.kill('SIGTERM');
    }
    t.is((await headUpload(url, user)).status, 410);
    const after = await scrape.upload(cluster);
    t.is(delta(before, after, 'govault_uploads_active'), -1, 'the expired upload is no longer in flight');
    t.is(delta(before, after, 'govault_uploads_expired_total'), 0, 'the instance with the long expiry expired nothing');
  });

  test.serial(`${mode}: while files is down, the outbox backlog grows by each completed upload and the breakers to files open; after its restart the backlog drains to 0 and they close`, async (t) => {
    const { cluster } = await clusterOf();
    const user = await registerAndLogin(cluster.baseUrl);
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
    const waiting = await scrape.upload(cluster);
    t.is(delta(uploadBefore, waiting, 'govault_registration_outbox_backlog'), count);
    t.is(delta(uploadBefore, waiting, 'tusd_uploads_finished_total'), count);
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
    t.is(drained.value('govault_registration_outbox_backlog'), 0, 'every queued registration delivered');
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
}
