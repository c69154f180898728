import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListPartsCommand } from '@aws-sdk/client-s3';
import test from 'ava';
import pg from 'pg';
import { createLogger, freePort, listen, parseConfig } from '@govault/lib';
import { startEmbeddedPostgres } from '@govault/lib/embedded-postgres';
import { eventually, openTestBucket, readTestObject, testDatabases, testS3, testServiceKeys, type TestDatabase } from '@govault/lib/testing';
import { buildFilesApp, filesConfigSchema } from '@govault/files';
import { startFilesService, startUploadService } from './services.ts';
import { buildUploadApp, uploadConfigSchema, type UploadApp } from '../src/index.ts';

/**
 * Direct multipart uploads, driven with plain fetch exactly as Uppy's @uppy/aws-s3 calls
 * Companion's routes: the upload and files services over real HTTP on a real database;
 * on disk (parts PUT back to the upload service), and on S3 when S3_* name a real server
 * (parts PUT straight to S3). Requests carry the internal token the gateway would add.
 */
const keys = testServiceKeys();
const gateway = keys.issuerFor('gateway');
const logger = createLogger('test', 'silent');
const MiB = 1024 * 1024;
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
const bare = (etag: string) => etag.replaceAll('"', '');

type Mode = 'disk' | 's3';
interface Stack {
  mode: Mode;
  base: string;
  filesBase: string;
  app: UploadApp;
  /** Same database and storage, 1 s part URLs and an 8 MiB maximum file size. */
  tight: string;
  readObject(key: string): Promise<Buffer>;
  storeHasUpload(key: string, storeUploadId: string): Promise<boolean>;
}

const realS3 = testS3();
if (!realS3) console.warn('multipart tests: S3 not configured here, disk mode only');
const modes: Mode[] = realS3 ? ['disk', 's3'] : ['disk'];
const stacks = new Map<Mode, Stack>();
const closers: Array<() => Promise<unknown>> = [];
let databases: Record<'upload' | 'files', TestDatabase>;
let uploadSql: pg.Pool;
let filesSql: pg.Pool;

async function startStack(mode: Mode, env: Record<string, string>, parts: Pick<Stack, 'readObject' | 'storeHasUpload'>): Promise<Stack> {
  const setup = { databases, keyDir: keys.dir, logger, closers };
  const { port: filesPort } = await startFilesService(setup, env);
  const main = await startUploadService(setup, filesPort, env);
  const tight = await startUploadService(setup, filesPort, { ...env, MULTIPART_URL_TTL_SECONDS: '1', MAX_UPLOAD_SIZE: String(8 * MiB) });
  const base = (port: number) => `http://127.0.0.1:${port}`;
  return { mode, base: base(main.port), filesBase: base(filesPort), app: main.upload, tight: base(tight.port), ...parts };
}

test.before(async () => {
  databases = await testDatabases(['upload', 'files']);
  const dataDir = mkdtempSync(join(tmpdir(), 'govault-multipart-'));
  const storageDir = join(dataDir, 'objects');
  stacks.set(
    'disk',
    await startStack('disk', { DATA_DIR: dataDir, STORAGE_DIR: storageDir }, {
      readObject: (key) => readFile(join(storageDir, key)),
      storeHasUpload: async (_key, id) => existsSync(join(storageDir, '.multipart', id)),
    }),
  );
  if (realS3) {
    const env = { DATA_DIR: dataDir, ...realS3.env };
    const client = await openTestBucket(realS3);
    closers.push(async () => client.destroy());
    stacks.set(
      's3',
      await startStack('s3', env, {
        readObject: (key) => readTestObject(client, realS3.bucket, key),
        storeHasUpload: (key, id) =>
          client.send(new ListPartsCommand({ Bucket: realS3.bucket, Key: key, UploadId: id })).then(
            () => true,
            (err: Error) => (err.name === 'NoSuchUpload' ? false : Promise.reject(err)),
          ),
      }),
    );
  }
  uploadSql = new pg.Pool({ connectionString: databases.upload.url, max: 2 });
  filesSql = new pg.Pool({ connectionString: databases.files.url, max: 2 });
});

test.after.always(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  await uploadSql?.end();
  await filesSql?.end();
  await databases?.upload.stop();
  await databases?.files.stop();
});

interface Created {
  key: string;
  uploadId: string;
  partSize: number;
  maxParts: number;
}

/** One user's calls, as @uppy/aws-s3 makes them against companionEndpoint. */
class Client {
  constructor(
    readonly base: string,
    readonly userId = randomUUID(),
  ) {}

  private headers(extra: Record<string, string> = {}) {
    return { 'x-internal-token': gateway.issue('upload', { userId: this.userId }), 'x-user-id': this.userId, ...extra };
  }

  async call(method: string, path: string, body?: unknown, extra: Record<string, string> = {}) {
    const response = await fetch(`${this.base}/api/uploads/s3/multipart${path}`, {
      method,
      headers: this.headers(body === undefined ? extra : { 'content-type': 'application/json', ...extra }),
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json().catch(() => undefined)) as any };
  }

  async create(body: unknown = { filename: 'report.pdf', type: 'application/pdf', metadata: { name: 'report.pdf', relativePath: null } }) {
    const created = await this.call('POST', '', body);
    if (created.status !== 200) throw new Error(`create answered ${created.status}: ${JSON.stringify(created.body)}`);
    return created.body as Created;
  }

  sign = (u: Created, n: number | string, key = u.key) => this.call('GET', `/${u.uploadId}/${n}?key=${encodeURIComponent(key)}`);
  batch = (u: Created, numbers: number[]) => this.call('GET', `/${u.uploadId}/batch?key=${u.key}&partNumbers=${numbers.join(',')}`);
  list = (u: Created, key = u.key) => this.call('GET', `/${u.uploadId}?key=${encodeURIComponent(key)}`);
  complete = (u: Created, parts: Array<{ PartNumber: number; ETag: string }>, key = u.key) =>
    this.call('POST', `/${u.uploadId}/complete?key=${encodeURIComponent(key)}`, { parts });
  abort = (u: Created, key = u.key) => this.call('DELETE', `/${u.uploadId}?key=${encodeURIComponent(key)}`);

  /** Sign and PUT one part; answers the ETag without quotes, as Uppy keeps it. */
  async upload(u: Created, n: number, bytes: Uint8Array): Promise<string> {
    const signed = await this.sign(u, n);
    if (signed.status !== 200) throw new Error(`sign answered ${signed.status}`);
    const put = await putPart(signed.body.url, bytes);
    if (put.status !== 200) throw new Error(`PUT part ${n} answered ${put.status}: ${await put.text()}`);
    return bare(put.headers.get('etag')!);
  }
}

/**
 * A part PUT as a browser sends it: no Content-Type, no credentials. Embedded part URLs
 * are served by the upload service behind the gateway, which adds its token to every
 * request it forwards; here we stand in for it.
 */
function putPart(url: string, bytes: Uint8Array) {
  const viaGateway = url.includes('/api/uploads/parts/');
  return fetch(url, { method: 'PUT', body: bytes, headers: viaGateway ? { 'x-internal-token': gateway.issue('upload') } : {} });
}

async function session(uploadId: string) {
  const { rows } = await uploadSql.query('SELECT * FROM upload.upload_sessions WHERE id = $1', [uploadId]);
  return rows[0] as { state: string; size: string | null; file_id: string | null; protocol: string; owner_id: string; filename: string };
}
const storeUploadIdOf = async (uploadId: string) =>
  (await uploadSql.query('SELECT store_upload_id FROM upload.multipart_uploads WHERE session_id = $1', [uploadId])).rows[0].store_upload_id as string;
const recordedParts = async (uploadId: string) =>
  (await uploadSql.query('SELECT part_number, size, etag FROM upload.upload_parts WHERE upload_id = $1 ORDER BY part_number', [uploadId])).rows;
const filesOf = async (uploadId: string) => (await filesSql.query('SELECT * FROM files.files WHERE upload_id = $1', [uploadId])).rows;

async function listedFiles(stack: Stack, userId: string) {
  const response = await fetch(`${stack.filesBase}/api/files`, {
    headers: { 'x-internal-token': gateway.issue('files', { userId }), 'x-user-id': userId },
  });
  return ((await response.json()) as { items: Array<{ id: string; name: string; size: number }> }).items;
}

async function inParallel<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>) {
  const queue = [...items];
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await work(item);
  }));
}

for (const mode of modes) {
  const stackFor = () => stacks.get(mode)!;

  test.serial(`${mode}: create, sign a batch, PUT parts out of order in parallel, list, complete: the file is listed with the same bytes`, async (t) => {
    const stack = stackFor();
    const client = new Client(stack.base);
    const data = randomBytes(11 * MiB + 123);
    const name = `Zürich 東京 ${mode}.pdf`;
    const u = await client.create({ filename: name, type: 'application/pdf', metadata: { name, type: 'application/pdf', relativePath: null }, size: data.length });
    t.regex(u.uploadId, /^[0-9a-f]{32}$/);
    t.is(u.key, u.uploadId);
    t.is(u.partSize, 5 * MiB, 'part-size guidance: S3 minimum is enough for this file');
    t.is(u.maxParts, 10_000);

    const chunks = [data.subarray(0, 5 * MiB), data.subarray(5 * MiB, 10 * MiB), data.subarray(10 * MiB)];
    const batch = await client.batch(u, [3, 1, 2]);
    t.is(batch.status, 200);
    t.deepEqual(Object.keys(batch.body.presignedUrls).sort(), ['1', '2', '3']);
    if (mode === 's3') t.notRegex(batch.body.presignedUrls['1'], /x-amz-checksum|x-amz-sdk-checksum/i, 'no checksum of an empty body');

    const etags = new Map<number, string>();
    await Promise.all(
      [3, 1, 2].map(async (n) => {
        const put = await putPart(batch.body.presignedUrls[String(n)], chunks[n - 1]!);
        t.is(put.status, 200);
        etags.set(n, put.headers.get('etag')!);
      }),
    );

    const listed = await client.list(u);
    t.is(listed.status, 200);
    t.deepEqual(
      listed.body.map((p: { PartNumber: number; Size: number; ETag: string }) => [p.PartNumber, p.Size, bare(p.ETag)]),
      [1, 2, 3].map((n) => [n, chunks[n - 1]!.length, bare(etags.get(n)!)]),
    );
    t.is((await session(u.uploadId)).state, 'uploading');

    const parts = [1, 2, 3].map((n) => ({ PartNumber: n, ETag: bare(etags.get(n)!) }));
    const done = await client.complete(u, parts);
    t.is(done.status, 200);
    t.truthy(done.body.fileId);
    t.is(done.body.key, u.key);
    t.is(done.body.location, `${stack.base}/api/files/${done.body.fileId}`);

    t.like(await session(u.uploadId), { state: 'completed', protocol: 'multipart', file_id: done.body.fileId, owner_id: client.userId, filename: name });
    t.is(Number((await session(u.uploadId)).size), data.length);
    t.deepEqual((await recordedParts(u.uploadId)).map((r) => [r.part_number, Number(r.size), bare(r.etag)]), parts.map((p, i) => [p.PartNumber, chunks[i]!.length, p.ETag]));
    const listedFile = (await listedFiles(stack, client.userId)).find((f) => f.id === done.body.fileId);
    t.like(listedFile, { name, size: data.length });
    t.is(sha256(await stack.readObject(u.key)), sha256(data), 'the stored object has the same bytes');

    const again = await client.complete(u, parts);
    t.deepEqual(again, done, 'complete is idempotent');
    t.is((await filesOf(u.uploadId)).length, 1, 'registered once');
    t.is((await client.sign(u, 4)).status, 409, 'a completed upload takes no more parts');
  });

  test.serial(`${mode}: a new client lists the parts and uploads only the missing ones`, async (t) => {
    const stack = stackFor();
    const first = new Client(stack.base);
    const data = randomBytes(12 * MiB);
    const chunk = (n: number) => data.subarray((n - 1) * 5 * MiB, Math.min(n * 5 * MiB, data.length));
    const u = await first.create();
    const sent = new Map([1, 3].map((n) => [n, ''] as [number, string]));
    for (const n of sent.keys()) sent.set(n, await first.upload(u, n, chunk(n)));

    // The first client is gone; a new one knows the upload id and key (Uppy keeps them) and the file.
    const second = new Client(stack.base, first.userId);
    const listed = await second.list({ ...u });
    t.deepEqual(listed.body.map((p: { PartNumber: number }) => p.PartNumber), [1, 3]);
    t.deepEqual(listed.body.map((p: { ETag: string }) => bare(p.ETag)), [sent.get(1), sent.get(3)]);
    t.deepEqual((await recordedParts(u.uploadId)).map((r) => r.part_number), [1, 3], 'listing brings the database up to date');

    const have = new Set(listed.body.map((p: { PartNumber: number }) => p.PartNumber));
    const missing = [1, 2, 3].filter((n) => !have.has(n));
    t.deepEqual(missing, [2]);
    const parts = listed.body.map((p: { PartNumber: number; ETag: string }) => ({ PartNumber: p.PartNumber, ETag: bare(p.ETag) }));
    for (const n of missing) parts.push({ PartNumber: n, ETag: await second.upload(u, n, chunk(n)) });

    const done = await second.complete(u, parts);
    t.is(done.status, 200);
    t.truthy(done.body.fileId);
    t.is(sha256(await stack.readObject(u.key)), sha256(data));
  });

  test.serial(`${mode}: abort frees the session and its parts`, async (t) => {
    const stack = stackFor();
    const client = new Client(stack.base);
    const u = await client.create();
    await client.upload(u, 1, randomBytes(1024));
    const storeId = await storeUploadIdOf(u.uploadId);
    t.true(await stack.storeHasUpload(u.key, storeId));

    t.deepEqual(await client.abort(u), { status: 200, body: {} });
    t.is((await session(u.uploadId)).state, 'aborted');
    t.deepEqual(await recordedParts(u.uploadId), []);
    t.false(await stack.storeHasUpload(u.key, storeId), 'the store no longer holds the upload');
    t.is((await client.sign(u, 2)).status, 404);
    t.is((await client.list(u)).status, 404);
    t.is((await client.complete(u, [{ PartNumber: 1, ETag: 'x' }])).status, 404);
    t.deepEqual((await client.abort(u)).status, 200, 'aborting again is harmless');
  });

  test.serial(`${mode}: tampered and expired part URLs are refused`, async (t) => {
    const stack = stackFor();
    const client = new Client(stack.base);
    const u = await client.create();
    const { url } = (await client.sign(u, 1)).body as { url: string };
    const tampered = new URL(url);
    const signatureParam = mode === 's3' ? 'X-Amz-Signature' : 'signature';
    const signature = tampered.searchParams.get(signatureParam)!;
    tampered.searchParams.set(signatureParam, `${signature[0] === 'a' ? 'b' : 'a'}${signature.slice(1)}`);
    t.is((await putPart(tampered.toString(), randomBytes(100))).status, 403, 'a changed signature');
    if (mode === 'disk') {
      const otherPart = url.replace(`/${u.uploadId}/1?`, `/${u.uploadId}/2?`);
      const refused = await putPart(otherPart, randomBytes(100));
      t.is(refused.status, 403, 'a URL for part 1 does not open part 2');
      t.regex(((await refused.json()) as { error: { message: string } }).error.message, /signature/);
    }

    const tight = new Client(stack.tight, client.userId);
    const short = (await tight.sign(u, 1)).body as { url: string; expires: number };
    t.is(short.expires, 1);
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const expired = await putPart(short.url, randomBytes(100));
    t.is(expired.status, 403, 'an expired URL');
    if (mode === 'disk') t.regex(((await expired.json()) as { error: { message: string } }).error.message, /expired/);
    t.deepEqual((await client.list(u)).body, [], 'nothing was stored');
  });

  test.serial(`${mode}: refusals: another user's upload, wrong key, bad part lists, limits; nothing half-registered`, async (t) => {
    const stack = stackFor();
    const owner = new Client(stack.base);
    const stranger = new Client(stack.base);
    const u = await owner.create();
    const e1 = await owner.upload(u, 1, randomBytes(5 * MiB));
    const e2 = await owner.upload(u, 2, randomBytes(1024));
    const e3 = await owner.upload(u, 3, randomBytes(1024));

    for (const answer of [await stranger.sign(u, 1), await stranger.list(u), await stranger.complete(u, [{ PartNumber: 1, ETag: e1 }]), await stranger.abort(u)]) {
      t.is(answer.status, 404, "another user's upload does not exist for them");
      t.is(answer.body.error.code, 'not_found');
    }
    for (const answer of [await owner.sign(u, 1, 'another-key'), await owner.list(u, 'another-key'), await owner.complete(u, [{ PartNumber: 1, ETag: e1 }], 'x')]) {
      t.is(answer.status, 400);
      t.regex(answer.body.error.message, /key/);
    }
    t.is((await owner.call('GET', `/${u.uploadId}/1`)).status, 400, 'no key at all');

    const refuse = async (parts: Array<{ PartNumber: number; ETag: string }>, status: number, message: RegExp) => {
      const answer = await owner.complete(u, parts);
      t.is(answer.status, status, JSON.stringify(answer.body));
      t.regex(JSON.stringify(answer.body?.error ?? {}), message);
    };
    await refuse([{ PartNumber: 1, ETag: e1 }, { PartNumber: 2, ETag: 'd41d8cd98f00b204e9800998ecf8427e' }], 400, /part 2: the ETag does not match/);
    await refuse([{ PartNumber: 1, ETag: e1 }, { PartNumber: 4, ETag: e3 }], 400, /part 4 has not been uploaded/);
    await refuse([{ PartNumber: 1, ETag: e1 }, { PartNumber: 2, ETag: e2 }, { PartNumber: 3, ETag: e3 }], 400, /part 2 has 1024 bytes; every part but the last/);
    await refuse([], 400, /empty/);
    await refuse(Array.from({ length: 10_001 }, (_, i) => ({ PartNumber: (i % 10_000) + 1, ETag: e1 })), 400, /at most 10000 parts/);
    t.is((await owner.sign(u, 10_001)).status, 400, 'part numbers stop at 10,000');
    t.is((await owner.sign(u, 0)).status, 400);
    t.is((await owner.sign(u, 'one')).status, 400);
    t.is((await owner.batch(u, Array.from({ length: 1001 }, (_, i) => i + 1))).status, 400);
    t.is((await owner.call('POST', `/${u.uploadId}/complete?key=${u.key}`, '{"parts": [')).status, 400, 'broken JSON');
    t.is((await owner.call('POST', '', { filename: 'x', metadata: 'not an object' })).status, 400);
    t.is((await owner.call('GET', `/not-an-id?key=x`)).status, 404);

    const tight = new Client(stack.tight, owner.userId);
    const big = await tight.call('POST', '', { filename: 'big.bin', metadata: {}, size: 9 * MiB });
    t.is(big.status, 413, 'over the maximum file size at create');
    t.regex(big.body.error.message, /maximum file size/);
    const v = await tight.create({ filename: 'grows.bin', metadata: {} });
    // Signed by the main instance (long-lived URLs; same database and storage), completed by the tight one.
    const parts = [
      { PartNumber: 1, ETag: await owner.upload(v, 1, randomBytes(5 * MiB)) },
      { PartNumber: 2, ETag: await owner.upload(v, 2, randomBytes(4 * MiB)) },
    ];
    const tooBig = await tight.complete(v, parts);
    t.is(tooBig.status, 413, 'over the maximum file size at complete');
    t.is(tooBig.body.error.code, 'payload_too_large');

    for (const id of [u.uploadId, v.uploadId]) {
      t.is((await session(id)).state, 'uploading', 'still in flight: nothing completed');
      t.deepEqual(await filesOf(id), [], 'no file registered');
    }
    const fine = await owner.complete(u, [{ PartNumber: 1, ETag: e1 }, { PartNumber: 3, ETag: e3 }]);
    t.is(fine.status, 200, 'a part list that skips the small middle part is fine');
    t.is((await filesOf(u.uploadId))[0].size, String(5 * MiB + 1024));
  });

  // S3 answers ListParts 1,000 parts a page; the disk store lists a folder, so this is S3's test.
  if (mode === 's3') test.serial(`${mode}: listing parts pages past 1,000 parts and records them all`, async (t) => {
    const stack = stackFor();
    const client = new Client(stack.base);
    const u = await client.create();
    const numbers = Array.from({ length: 1005 }, (_, i) => i + 1);
    const urls: Record<string, string> = {};
    for (let i = 0; i < numbers.length; i += 1000) Object.assign(urls, (await client.batch(u, numbers.slice(i, i + 1000))).body.presignedUrls);
    await inParallel(numbers, 16, async (n) => {
      const put = await putPart(urls[String(n)]!, Buffer.from([n % 256]));
      if (put.status !== 200) throw new Error(`part ${n}: ${put.status}`);
    });
    const listed = await client.list(u);
    t.is(listed.status, 200);
    t.deepEqual(listed.body.map((p: { PartNumber: number }) => p.PartNumber), numbers);
    t.is((await recordedParts(u.uploadId)).length, 1005);
    await client.abort(u);
  });

  test.serial(`${mode}: the cleanup job aborts abandoned multipart uploads`, async (t) => {
    const stack = stackFor();
    const client = new Client(stack.base);
    const u = await client.create();
    await client.upload(u, 1, randomBytes(2048));
    const storeId = await storeUploadIdOf(u.uploadId);
    // The sweep acts on the whole database, which in real mode the suite's other files
    // share while they run: so this upload is made old, and the cut-off is a day, which
    // none of theirs is (a cut-off of "now" aborted their uploads in flight).
    const aDayAgo = () => new Date(Date.now() - 24 * 3600 * 1000);
    await stack.app.multipart.sweepAbandoned(aDayAgo());
    t.is((await session(u.uploadId)).state, 'uploading', 'an active upload is left alone');
    await uploadSql.query("UPDATE upload.upload_sessions SET updated_at = now() - interval '2 days' WHERE id = $1", [u.uploadId]);
    t.true(await stack.app.multipart.sweepAbandoned(aDayAgo()) >= 1);
    t.is((await session(u.uploadId)).state, 'aborted');
    t.false(await stack.storeHasUpload(u.key, storeId));
    t.is((await client.sign(u, 2)).status, 404);
  });
}

test.serial('disk: part URLs point where the client reached the gateway', async (t) => {
  const client = new Client(stacks.get('disk')!.base);
  const u = await client.create();
  const signed = await client.call('GET', `/${u.uploadId}/7?key=${u.key}`, undefined, { 'x-forwarded-host': 'vault.example:8443', 'x-forwarded-proto': 'https' });
  t.regex(signed.body.url, new RegExp(`^https://vault\\.example:8443/api/uploads/parts/${u.uploadId}/7\\?expires=\\d+&signature=[0-9a-f]{64}$`));
  t.is(signed.body.expires, 900);
});

/**
 * Databases of its own for one test: the suite's other upload apps share the run's, and
 * their outbox workers would take this test's registration to their own files service
 * (whose storage does not hold the object, so it is refused). Embedded: a PGlite of its
 * own; real: new databases beside the run's on the same server.
 */
async function ownDatabases(t: { teardown(fn: () => Promise<void>): void }): Promise<{ upload: string; files: string }> {
  if (databases.upload.kind === 'embedded') {
    const db = await startEmbeddedPostgres();
    t.teardown(() => db.stop());
    return { upload: db.url, files: db.url };
  }
  const urls = { upload: '', files: '' };
  for (const service of ['upload', 'files'] as const) {
    const url = new URL(databases[service].url);
    const name = `${url.pathname.slice(1)}_away`.slice(0, 63);
    const admin = new pg.Client({ connectionString: databases[service].url });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
    await admin.end();
    url.pathname = `/${name}`;
    urls[service] = url.toString();
    t.teardown(async () => {
      const drop = new pg.Client({ connectionString: databases[service].url });
      await drop.connect();
      await drop.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
      await drop.end();
    });
  }
  return urls;
}

test.serial('disk: an upload completed while the files service is away is completed and queued in one step, then registered once when it returns', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'govault-multipart-away-'));
  const env = { DATA_DIR: dataDir, STORAGE_DIR: join(dataDir, 'objects') };
  const filesPort = await freePort();
  const own = await ownDatabases(t);
  const ownUploadSql = new pg.Pool({ connectionString: own.upload, max: 2 });
  const ownFilesSql = new pg.Pool({ connectionString: own.files, max: 2 });
  t.teardown(async () => {
    await ownUploadSql.end();
    await ownFilesSql.end();
  });
  const filesOfOwn = async (uploadId: string) => (await ownFilesSql.query('SELECT * FROM files.files WHERE upload_id = $1', [uploadId])).rows;
  const upload = await buildUploadApp(
    parseConfig(uploadConfigSchema, {
      UPLOAD_DATABASE_URL: own.upload,
      INTERNAL_KEY_DIR: keys.dir,
      FILES_URL: `http://127.0.0.1:${filesPort}`,
      ...env,
    }),
    logger,
  );
  const server = await listen(upload.app, '127.0.0.1', 0);
  t.teardown(async () => {
    await server.close();
    await upload.close();
  });
  const client = new Client(`http://127.0.0.1:${server.port}`);
  const u = await client.create();
  const etag = await client.upload(u, 1, randomBytes(1000));
  const done = await client.complete(u, [{ PartNumber: 1, ETag: etag }]);
  t.is(done.status, 200);
  t.is(done.body.fileId, undefined, 'no file while files is away');
  t.is((await ownUploadSql.query('SELECT state FROM upload.upload_sessions WHERE id = $1', [u.uploadId])).rows[0].state, 'completed');
  const queued = async () => (await ownUploadSql.query('SELECT count(*)::int AS n FROM upload.registration_outbox WHERE upload_id = $1', [u.uploadId])).rows[0].n as number;
  t.is(await queued(), 1, 'its registration waits in the outbox');

  const files = await buildFilesApp(parseConfig(filesConfigSchema, { FILES_DATABASE_URL: own.files, INTERNAL_KEY_DIR: keys.dir, ...env }), logger);
  const filesServer = await listen(files.app, '127.0.0.1', filesPort);
  t.teardown(async () => {
    await filesServer.close();
    await files.close();
  });
  // No client request: the outbox worker alone retries, behind its circuit breaker.
  // The worker retries with backoff behind its breaker: on a loaded CI machine that took over 30 s once.
  await eventually(async () => (await filesOfOwn(u.uploadId)).length > 0, 75_000, 200);
  t.is((await filesOfOwn(u.uploadId)).length, 1, 'registered after files returns');
  const again = await client.complete(u, [{ PartNumber: 1, ETag: etag }]);
  t.is(again.body.fileId, (await filesOfOwn(u.uploadId))[0].id, 'a repeated complete names that file');
  t.is((await filesOfOwn(u.uploadId)).length, 1, 'and registers nothing twice');
});
