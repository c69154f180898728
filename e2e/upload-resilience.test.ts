import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { join } from 'node:path';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import test from 'ava';
import pg from 'pg';
import * as tus from 'tus-js-client';
import { InternalTokenIssuer, createS3Client, parseConfig, s3EnvSchema, s3Settings } from '@govault/lib';
import { eventually } from '@govault/lib/testing';
import { getJson, registerAndLogin, type TestUser } from './client.ts';
import { startCluster, type Cluster } from './cluster.ts';
import { Scrape } from './prometheus.ts';
import { availableModes } from './system.ts';

/**
 * The upload service under faults, each service its own process: killed with SIGKILL
 * mid-upload, two instances sharing uploads, the files service away while uploads finish.
 */
const MiB = 1024 * 1024;
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface FileItem {
  id: string;
  name: string;
  size: number;
}

/** When each request of an upload was sent and answered (ms since the epoch). */
type Span = { sent: number; answered: number };

function tusUpload(cluster: Cluster, user: TestUser, data: Buffer, name: string, options: Partial<tus.UploadOptions> = {}, spans?: Span[]) {
  let fileId: string | undefined;
  let retries = 0;
  const sent = new WeakMap<object, number>();
  return new Promise<{ url: string; fileId?: string; retries: number }>((resolve, reject) => {
    const upload = new tus.Upload(data, {
      endpoint: `${cluster.baseUrl}/api/uploads/tus`,
      headers: user.auth,
      chunkSize: 2 * MiB,
      retryDelays: [0, 500, 1000, 2000, 3000, 3000, 5000, 5000, 5000, 5000, 5000, 5000],
      metadata: { filename: name, filetype: 'application/octet-stream' },
      onShouldRetry: () => {
        retries++;
        return true;
      },
      onAfterResponse: (req, res) => {
        fileId = res.getHeader('GoVault-File-Id') ?? fileId;
        spans?.push({ sent: sent.get(req) ?? Date.now(), answered: Date.now() });
      },
      onSuccess: () => resolve({ url: upload.url!, fileId, retries }),
      onError: reject,
      ...options,
      onBeforeRequest: async (req) => {
        await options.onBeforeRequest?.(req);
        sent.set(req, Date.now());
      },
    });
    upload.start();
  });
}

/** PATCH requests an upload instance has answered, from its own /metrics. */
async function patchesServed(instanceUrl: string): Promise<number> {
  return (await Scrape.of(`${instanceUrl}/metrics`)).value('http_requests_total', { method: 'PATCH' });
}

/** Requests an upload instance counted as having waited for another one's lock, from its /metrics. */
async function lockWaits(instanceUrl: string): Promise<number> {
  return (await Scrape.of(`${instanceUrl}/metrics`)).value('govault_tus_lock_waits_total');
}

interface TrickledAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Bytes of the body written before the answer came. */
  sent: number;
  /** The body had not ended when the answer came: the server cut the request short. */
  bodyOpen: boolean;
}

/**
 * A PATCH at offset 0 whose body ("a" bytes) comes quickly for its first 8.5 MiB (so that
 * an S3 store holds a part of it), then 8 KiB every 50 ms, until the server answers, stop()
 * is called, or the body would reach the upload's length: a client on a slow link, with
 * no end the server could wait for.
 */
function trickledPatch(base: string, path: string, headers: Record<string, string>, length: number) {
  let sent = 0;
  let answered = false;
  let stopped = false;
  const req = request(`${base}${path}`, {
    method: 'PATCH',
    headers: { ...headers, 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' },
  });
  const answer = new Promise<TrickledAnswer>((resolve, reject) => {
    req.once('response', (res) => {
      answered = true;
      res.resume();
      resolve({ status: res.statusCode!, headers: res.headers, sent, bodyOpen: !req.writableEnded });
    });
    // Once the answer is in, the server may close the socket under the rest of the body.
    req.on('error', (err) => (answered ? undefined : reject(err)));
  });
  const fast = 8 * MiB + 512 * 1024;
  const write = () => {
    if (answered || stopped || req.destroyed) return;
    const size = sent < fast ? 64 * 1024 : 8 * 1024;
    if (sent + size >= length) return void req.end();
    sent += size;
    const more = req.write(Buffer.alloc(size, 'a'));
    if (sent < fast) more ? setImmediate(write) : req.once('drain', write);
    else setTimeout(write, 50);
  };
  write();
  return {
    answer,
    answered: () => answered,
    stop: () => {
      stopped = true;
      req.destroy();
    },
  };
}

async function download(cluster: Cluster, user: TestUser, fileId: string): Promise<Buffer> {
  const response = await fetch(`${cluster.baseUrl}/api/files/${fileId}/content`, { headers: user.auth });
  if (!response.ok) throw new Error(`download answered ${response.status}`);
  return Buffer.from(await response.arrayBuffer());
}

async function listed(cluster: Cluster, user: TestUser): Promise<FileItem[] | undefined> {
  const response = await getJson<{ items: FileItem[] }>(`${cluster.baseUrl}/api/files?view=owned&limit=100`, user.auth);
  return response.status === 200 ? response.body.items : undefined;
}

const uploadDb = (cluster: Cluster) => new pg.Pool({ connectionString: cluster.env.UPLOAD_DATABASE_URL, max: 2 });

/** S3's ETag of a multipart object: md5 of the parts' binary md5s, dash, part count. */
function multipartEtag(etags: string[]): string {
  const joined = Buffer.concat(etags.map((e) => Buffer.from(e.replaceAll('"', ''), 'hex')));
  return `${createHash('md5').update(joined).digest('hex')}-${etags.length}`;
}

/** One cluster per mode for the tests that kill single services; started on first use. */
const shared = new Map<string, Promise<Cluster>>();
const sharedCluster = (mode: 'embedded' | 'real') => {
  if (!shared.has(mode)) {
    shared.set(mode, startCluster(mode, { serviceEnv: { upload: { REGISTRATION_MAX_BACKOFF_SECONDS: '2' } } }));
  }
  return shared.get(mode)!;
};
test.after.always(async () => {
  for (const cluster of shared.values()) await (await cluster).stop();
});

for (const mode of availableModes()) {
  test.serial(`${mode}: 10 uploads survive random SIGKILLs of the upload service; bytes identical, database agrees with storage`, async (t) => {
    const cluster = await sharedCluster(mode);
    const user = await registerAndLogin(cluster.baseUrl);
    const sources = Array.from({ length: 10 }, (_, i) => ({ name: `fault ${i} – ü.bin`, data: randomBytes(8 * MiB + i * 4099) }));

    let uploading = true;
    const outages: Array<{ killed: number; back: number }> = [];
    const killer = (async () => {
      while (uploading && outages.length < 3) {
        await sleep(300 + Math.random() * 1200);
        if (!uploading) break;
        const killed = Date.now();
        await cluster.uploads[0]!.kill('SIGKILL');
        await cluster.uploads[0]!.start();
        outages.push({ killed, back: Date.now() });
      }
    })();
    // A pause before each request keeps the uploads in flight long enough to be hit.
    const slowly = { onBeforeRequest: async () => void (await sleep(250)) };
    const spans: Span[] = [];
    const results = await Promise.all(sources.map((s) => tusUpload(cluster, user, s.data, s.name, slowly, spans)));
    uploading = false;
    await killer;
    t.true(outages.length >= 1, `the service was killed during the uploads (${outages.length} times)`);
    // Either a request failed and the client resumed, or one sent while the service was
    // down was held by the gateway until it was back (and answered, or the upload would fail).
    const heldAcross = spans.filter((span) => outages.some((o) => span.sent >= o.killed && span.sent < o.back)).length;
    t.true(results.some((r) => r.retries > 0) || heldAcross > 0, 'uploads were cut or held by a kill, and went on');

    const items = (await listed(cluster, user))!;
    for (const [i, source] of sources.entries()) {
      const result = results[i]!;
      t.truthy(result.fileId, `${source.name} names its file`);
      t.is(items.filter((item) => item.name === source.name).length, 1, `${source.name} listed once`);
      t.is(sha256(await download(cluster, user, result.fileId!)), sha256(source.data), `${source.name} downloads intact`);
    }

    const db = uploadDb(cluster);
    t.teardown(() => db.end());
    const ids = results.map((r) => r.url.split('/').pop()!);
    const { rows } = await db.query('SELECT id, state, size, upload_offset, file_id FROM upload.upload_sessions WHERE id = ANY($1)', [ids]);
    for (const [i, id] of ids.entries()) {
      const row = rows.find((r) => r.id === id);
      t.like(row, { state: 'completed', file_id: results[i]!.fileId });
      t.is(Number(row.size), sources[i]!.data.length);
      t.is(Number(row.upload_offset), sources[i]!.data.length);
    }
    if (mode === 'real') {
      const s3 = createS3Client(s3Settings(parseConfig(s3EnvSchema, cluster.env))!);
      t.teardown(() => s3.destroy());
      for (const id of ids) {
        const parts = await db.query('SELECT size, etag FROM upload.upload_parts WHERE upload_id = $1 ORDER BY part_number', [id]);
        const head = await s3.send(new HeadObjectCommand({ Bucket: cluster.env.S3_BUCKET!, Key: id }));
        t.is(parts.rows.reduce((sum, p) => sum + Number(p.size), 0), Number(head.ContentLength), `${id}: part rows add up to the object`);
        t.is(head.ETag!.replaceAll('"', ''), multipartEtag(parts.rows.map((p) => p.etag)), `${id}: the object is exactly the recorded parts`);
      }
    }
  });

  // Only S3 holds parts in memory (disk storage writes each chunk into the upload's file).
  if (mode === 'real') test.serial(`${mode}: killed while S3 parts are held in memory, the upload service never reported an offset it does not hold after the restart; the upload completes to the exact bytes`, async (t) => {
    const cluster = await sharedCluster(mode);
    const user = await registerAndLogin(cluster.baseUrl);
    const data = randomBytes(40 * MiB);
    const tusHeaders = { ...user.auth, 'tus-resumable': '1.0.0' };
    const created = await fetch(`${cluster.baseUrl}/api/uploads/tus`, {
      method: 'POST',
      headers: { ...tusHeaders, 'upload-length': String(data.length), 'upload-metadata': `filename ${Buffer.from('held in memory.bin').toString('base64')}` },
    });
    t.is(created.status, 201);
    const path = new URL(created.headers.get('location')!).pathname;
    const id = path.split('/').pop()!;

    // Two whole 8 MiB parts quickly, then 64 KiB every 20 ms: the third part fills in memory.
    const patch = request(`${cluster.baseUrl}${path}`, { method: 'PATCH', headers: { ...tusHeaders, 'upload-offset': '0', 'content-type': 'application/offset+octet-stream', 'content-length': String(data.length) } });
    patch.on('error', () => undefined);
    patch.on('response', (res) => res.resume());
    let sent = 0;
    let stopped = false;
    const write = () => {
      if (stopped || patch.destroyed || sent >= data.length) return;
      const size = sent < 20 * MiB ? MiB : 64 * 1024;
      const more = patch.write(data.subarray(sent, sent + size));
      sent += size;
      if (sent < 20 * MiB) more ? setImmediate(write) : patch.once('drain', write);
      else setTimeout(write, 20);
    };
    write();
    t.teardown(() => void ((stopped = true), patch.destroy()));

    // Everything the system says of the upload's offset before the kill: the upload list and the upload database.
    const db = uploadDb(cluster);
    t.teardown(() => db.end());
    const reported: number[] = [];
    const noteReported = async () => {
      const listed = await getJson<{ items: Array<{ id: string; offset: number }> }>(`${cluster.baseUrl}/api/uploads?state=incomplete`, user.auth);
      const item = listed.body.items?.find((i) => i.id === id);
      if (item) reported.push(item.offset);
      const { rows } = await db.query('SELECT upload_offset FROM upload.upload_sessions WHERE id = $1', [id]);
      if (rows[0]) reported.push(Number(rows[0].upload_offset));
    };
    const memoryHeld = async () => (await Scrape.of(`${cluster.uploads[0]!.url}/metrics`)).value('govault_upload_part_memory_bytes');
    const ready = await eventually(async () => {
      await noteReported();
      return Math.max(...reported) >= 16 * MiB && (await memoryHeld()) > 0;
    }, 30_000, 200);
    t.true(ready, 'two parts stored, and the third held in memory');
    const heldAtKill = await memoryHeld();
    await cluster.uploads[0]!.kill('SIGKILL');
    stopped = true;
    patch.destroy();
    t.true(heldAtKill > 0, `the service held ${heldAtKill} bytes of parts in memory when it was killed`);
    t.true(sent > Math.max(...reported), `bytes were sent (${sent}) past the offset reported (${Math.max(...reported)})`);
    await cluster.uploads[0]!.start();

    const head = await fetch(`${cluster.baseUrl}${path}`, { method: 'HEAD', headers: tusHeaders });
    t.is(head.status, 200);
    const offset = Number(head.headers.get('upload-offset'));
    await noteReported();
    t.true(reported.every((r) => r <= offset), `every offset reported (${[...new Set(reported)].join(', ')}) is held after the restart (${offset})`);
    const rest = await fetch(`${cluster.baseUrl}${path}`, {
      method: 'PATCH',
      headers: { ...tusHeaders, 'upload-offset': String(offset), 'content-type': 'application/offset+octet-stream' },
      body: data.subarray(offset),
    });
    t.is(rest.status, 204);
    const fileId = rest.headers.get('govault-file-id')!;
    t.truthy(fileId);
    t.is(sha256(await download(cluster, user, fileId)), sha256(data), 'the file is exactly the bytes sent: the offset was held');
  });

  // Real PostgreSQL only: on the embedded database tus locks are per process (npm start runs
  // one upload instance); two instances there would not exclude each other.
  if (mode === 'real') test.serial(`${mode}: two upload instances share uploads: alternating chunks complete; a PATCH overlapping one on the other instance waits for it, then gets 409`, async (t) => {
    const cluster = await startCluster(mode, { uploadInstances: 2 });
    t.teardown(() => cluster.stop());
    const user = await registerAndLogin(cluster.baseUrl);
    // First the test picks the instance for each chunk itself, then the gateway spreads them.
    const issuer = InternalTokenIssuer.fromKeyDir(join(cluster.dataDir, 'keys'), 'gateway');
    const asUser = () => ({ 'x-internal-token': issuer.issue('upload', { userId: user.id }), 'x-user-id': user.id, 'tus-resumable': '1.0.0' });
    const [one, two] = cluster.uploads as [Cluster['uploads'][0], Cluster['uploads'][0]];
    const create = async (length: number, name: string) => {
      const response = await fetch(`${one.url}/api/uploads/tus`, {
        method: 'POST',
        headers: { ...asUser(), 'upload-length': String(length), 'upload-metadata': `filename ${Buffer.from(name).toString('base64')}` },
      });
      t.is(response.status, 201);
      return new URL(response.headers.get('location')!).pathname;
    };
    const patch = (base: string, path: string, offset: number, body: Buffer | ReadableStream<Uint8Array>) =>
      fetch(`${base}${path}`, {
        method: 'PATCH',
        headers: { ...asUser(), 'upload-offset': String(offset), 'content-type': 'application/offset+octet-stream' },
        body,
        duplex: 'half',
      } as RequestInit);

    const data = randomBytes(12 * MiB);
    const path = await create(data.length, 'alternating.bin');
    let fileId: string | null = null;
    for (let offset = 0, i = 0; offset < data.length; offset += 2 * MiB, i++) {
      const response = await patch(i % 2 === 0 ? one.url : two.url, path, offset, data.subarray(offset, offset + 2 * MiB));
      t.is(response.status, 204, `chunk ${i} on instance ${(i % 2) + 1}`);
      fileId = response.headers.get('govault-file-id') ?? fileId;
    }
    t.truthy(fileId);
    t.is(sha256(await download(cluster, user, fileId!)), sha256(data));

    // Through the gateway, whose round robin spreads one client's chunks over both instances.
    const spread = randomBytes(10 * MiB);
    const before = await Promise.all(cluster.uploads.map((instance) => patchesServed(instance.url)));
    const viaGateway = await tusUpload(cluster, user, spread, 'round-robin.bin');
    const after = await Promise.all(cluster.uploads.map((instance) => patchesServed(instance.url)));
    t.true(after.every((count, i) => count > before[i]!), `both instances took PATCHes of one upload (${before} -> ${after})`);
    t.is(sha256(await download(cluster, user, viaGateway.fileId!)), sha256(spread));

    // Two PATCHes on one upload at once, on two instances. A trickles its body to instance
    // one and never ends it by itself; once instance one lists the bytes A sent so far, B
    // (offset 0) goes to instance two. B must wait for the lock, which makes instance one
    // cut A short (tus's lock drain), and then find the offset moved: 409.
    const raceLength = 12 * MiB;
    const racePath = await create(raceLength, 'race.bin');
    const order: string[] = [];
    const slow = trickledPatch(one.url, racePath, asUser(), raceLength);
    t.teardown(() => slow.stop());
    const patchA = slow.answer.then((answer) => (order.push('A answered'), answer));
    const inProgress = await eventually(async () => {
      const listing = await getJson<{ items: Array<{ id: string; offset: number }> }>(`${one.url}/api/uploads?state=incomplete`, asUser());
      return !slow.answered() && (listing.body.items.find((item) => racePath.endsWith(`/${item.id}`))?.offset ?? 0) > 0;
    }, 30_000);
    t.true(inProgress, 'instance one lists bytes of PATCH A while A is still sending');
    const waitsBefore = await lockWaits(two.url);
    order.push('B sent');
    const patchB = patch(two.url, racePath, 0, Buffer.alloc(64 * 1024, 'b')).then((answer) => (order.push('B answered'), answer));
    const [a, b] = await Promise.all([patchA, patchB]);
    t.deepEqual(order, ['B sent', 'A answered', 'B answered'], 'B waited for A to let go of the upload');
    t.true(a.bodyOpen, 'A was cut short while its body was still coming: instance one let go because B asked');
    t.is(a.status, 204, 'A keeps what it sent before it was cut');
    const offsetA = Number(a.headers['upload-offset']);
    t.true(offsetA > 0 && offsetA <= a.sent, `A's offset ${offsetA} is within the ${a.sent} bytes it sent`);
    t.is(b.status, 409, 'B, for offset 0, finds the upload moved on');
    t.is(b.headers.get('upload-offset'), String(offsetA), 'and is told where it stands');
    t.is((await lockWaits(two.url)) - waitsBefore, 1, 'instance two counted one lock wait');

    const head = await fetch(`${two.url}${racePath}`, { method: 'HEAD', headers: asUser() });
    t.is(head.headers.get('upload-offset'), String(offsetA), "instance two's HEAD gives the offset instance one answered A with");
    const rest = await patch(two.url, racePath, offsetA, Buffer.alloc(raceLength - offsetA, 'c'));
    t.is(rest.status, 204);
    const stored = await download(cluster, user, rest.headers.get('govault-file-id')!);
    t.true(stored.equals(Buffer.concat([Buffer.alloc(offsetA, 'a'), Buffer.alloc(raceLength - offsetA, 'c')])), "exactly A's bytes, then the rest: none of B's");
  });

  test.serial(`${mode}: uploads that finish while the files service is down appear exactly once after it returns`, async (t) => {
    const cluster = await sharedCluster(mode);
    const user = await registerAndLogin(cluster.baseUrl);
    await cluster.files.kill('SIGKILL');
    const sources = [1, 2, 3].map((i) => ({ name: `while files was away ${i}.bin`, data: randomBytes(3 * MiB + i) }));
    const results = await Promise.all(sources.map((s) => tusUpload(cluster, user, s.data, s.name)));
    t.deepEqual(results.map((r) => r.fileId), [undefined, undefined, undefined], 'finished, but no file ids yet');
    await cluster.files.start();

    const deadline = Date.now() + 60_000;
    let items: FileItem[] = [];
    while (Date.now() < deadline) {
      items = (await listed(cluster, user)) ?? [];
      if (sources.every((s) => items.some((item) => item.name === s.name))) break;
      await sleep(500);
    }
    await sleep(2_000); // a retry that was already on its way must not add a second copy
    items = (await listed(cluster, user)) ?? [];
    for (const source of sources) {
      const matches = items.filter((item) => item.name === source.name);
      t.is(matches.length, 1, `${source.name} listed exactly once`);
      t.is(sha256(await download(cluster, user, matches[0]!.id)), sha256(source.data));
    }
  });
}
