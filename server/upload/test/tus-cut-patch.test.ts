import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { readFile, rm, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { HeadObjectCommand, ListPartsCommand, type S3Client } from '@aws-sdk/client-s3';
import { MemoryKvStore, Upload, type DataStore } from '@tus/server';
import test, { type ExecutionContext } from 'ava';
import pg from 'pg';
import { createLogger } from '@govault/lib';
import { eventually, openTestBucket, readTestObject, testDatabases, testS3, testServiceKeys, type TestDatabase } from '@govault/lib/testing';
import type { UploadPart, UploadPartRepository } from '../src/session/upload-part.repository.ts';
import { createDataStore, partSizeFor } from '../src/storage/data-store.ts';
import { PartBufferPool } from '../src/storage/held-part.ts';
import { S3CutProxy } from './s3-cut-proxy.ts';
import { startFilesService, startUploadService } from './services.ts';

/**
 * A tus PATCH cut off mid-body (a reload, a closed tab, a dropped connection) keeps the
 * bytes that arrived: the store persists them (full parts, and in S3 the rest as the
 * incomplete part), HEAD answers that offset, the upload database never lists more, and
 * the upload continues from there to the exact bytes. Real upload app over HTTP, real
 * database, on disk and (when S3_* are set) on S3. And the store's own requests to S3,
 * cut off the same way when the upload service dies mid-part, never count as held.
 */
const keys = testServiceKeys();
const gateway = keys.issuerFor('gateway');
const logger = createLogger('test', 'silent');
const MiB = 1024 * 1024;
/** The S3 part size the upload service picks for MAX_UPLOAD_SIZE below (see partSizeFor). */
const PART_SIZE = 8 * MiB;

interface Stack {
  mode: 'disk' | 's3';
  port: number;
  /** Bytes the store really holds for an upload (S3: its parts plus the incomplete part). */
  stored(id: string): Promise<number>;
  readObject(id: string): Promise<Buffer>;
}

const realS3 = testS3();
const modes = realS3 ? (['disk', 's3'] as const) : (['disk'] as const);
let databases: Record<'upload' | 'files', TestDatabase>;
let uploadSql: pg.Pool;
const stacks: Stack[] = [];
const closers: Array<() => Promise<unknown>> = [];

async function startStack(env: Record<string, string>): Promise<number> {
  const setup = { databases, keyDir: keys.dir, logger, closers };
  const files = await startFilesService(setup, env);
  return (await startUploadService(setup, files.port, { REGISTRATION_MAX_BACKOFF_SECONDS: '1', ...env })).port;
}

async function s3Stored(client: S3Client, bucket: string, id: string): Promise<number> {
  // The store keeps the multipart upload's id in the metadata of `<id>.info`.
  const info = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: `${id}.info` }));
  const parts = await client.send(new ListPartsCommand({ Bucket: bucket, Key: id, UploadId: info.Metadata!['upload-id'] }));
  const inParts = (parts.Parts ?? []).reduce((sum, p) => sum + (p.Size ?? 0), 0);
  const incomplete = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: `${id}.part` })).then(
    (head) => head.ContentLength ?? 0,
    () => 0,
  );
  return inParts + incomplete;
}

test.before(async () => {
  databases = await testDatabases(['upload', 'files']);
  const storageDir = mkdtempSync(join(tmpdir(), 'govault-cut-objects-'));
  stacks.push({
    mode: 'disk',
    port: await startStack({ STORAGE_DIR: storageDir }),
    stored: async (id) => (await stat(join(storageDir, id))).size,
    readObject: (id) => readFile(join(storageDir, id)),
  });
  const real = realS3;
  if (real) {
    const client = await openTestBucket(real);
    stacks.push({
      mode: 's3',
      port: await startStack(real.env),
      stored: (id) => s3Stored(client, real.bucket, id),
      readObject: (id) => readTestObject(client, real.bucket, id),
    });
  }
  uploadSql = new pg.Pool({ connectionString: databases.upload.url, max: 2 });
});

test.after.always(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  await uploadSql?.end();
  await databases?.upload.stop();
  await databases?.files.stop();
});

const asUser = (userId: string) => ({ 'x-internal-token': gateway.issue('upload', { userId }), 'x-user-id': userId });
const tusHeaders = (userId: string) => ({ ...asUser(userId), 'Tus-Resumable': '1.0.0' });
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function create(stack: Stack, userId: string, size: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${stack.port}/api/uploads/tus`, {
    method: 'POST',
    headers: { ...tusHeaders(userId), 'Upload-Length': String(size), 'Upload-Metadata': `filename ${Buffer.from('cut.bin').toString('base64')}` },
  });
  if (response.status !== 201) throw new Error(`create answered ${response.status}`);
  return response.headers.get('location')!.split('/').pop()!;
}

async function headOffset(stack: Stack, userId: string, id: string): Promise<number> {
  const head = await fetch(`http://127.0.0.1:${stack.port}/api/uploads/tus/${id}`, { method: 'HEAD', headers: tusHeaders(userId) });
  if (head.status !== 200) throw new Error(`HEAD answered ${head.status}`);
  return Number(head.headers.get('upload-offset'));
}

/**
 * A PATCH announcing `body.length` bytes over a raw socket, of which the first `cutAt`
 * are written, slowly (as a browser on a real link sends them); then the socket is
 * destroyed, as a reload or a closed tab does.
 */
async function cutPatch(
  t: ExecutionContext,
  stack: Stack,
  userId: string,
  id: string,
  offset: number,
  body: Buffer,
  cutAt: number,
  whileSending: () => Promise<{ recorded: number; stored: number }>,
): Promise<void> {
  const socket = connect(stack.port, '127.0.0.1');
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const headers = {
    ...tusHeaders(userId),
    Host: `127.0.0.1:${stack.port}`,
    'Upload-Offset': String(offset),
    'Content-Type': 'application/offset+octet-stream',
    'Content-Length': String(body.length),
  };
  socket.write(`PATCH /api/uploads/tus/${id} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
  // Over about 2.5 s, so that the server's progress events (one a second) fire meanwhile.
  const CHUNK = 64 * 1024;
  const pause = 2500 / Math.ceil(cutAt / CHUNK);
  for (let at = 0; at < cutAt; at += CHUNK) {
    const piece = body.subarray(at, Math.min(at + CHUNK, cutAt));
    if (!socket.write(piece)) await new Promise((resolve) => socket.once('drain', resolve));
    await sleep(pause);
  }
  // Let the server read what was sent before the connection goes.
  await sleep(300);
  const { recorded, stored } = await whileSending();
  t.true(recorded <= stored, `while sending, the session records ${recorded}, the store holds ${stored}`);
  socket.destroy();
}

async function listedOffset(stack: Stack, userId: string, id: string): Promise<number | undefined> {
  const response = await fetch(`http://127.0.0.1:${stack.port}/api/uploads?state=incomplete`, { headers: asUser(userId) });
  const { items } = (await response.json()) as { items: Array<{ id: string; offset: number }> };
  return items.find((i) => i.id === id)?.offset;
}

async function patchRest(stack: Stack, userId: string, id: string, data: Buffer, from: number): Promise<Response> {
  return fetch(`http://127.0.0.1:${stack.port}/api/uploads/tus/${id}`, {
    method: 'PATCH',
    headers: { ...tusHeaders(userId), 'Upload-Offset': String(from), 'Content-Type': 'application/offset+octet-stream' },
    body: data.subarray(from),
  });
}

const cases = [
  // The browser's case: one 8 MiB-chunk PATCH for a 3 MiB file, cut after about 1 MiB: less than a part.
  { name: 'a 3 MiB PATCH cut after 1 MiB (less than a part)', size: 3 * MiB, cutAt: 1 * MiB },
  // More than a part before the cut: a full part, and the rest as the incomplete part.
  { name: 'a 20 MiB PATCH cut after a part and 2 MiB more', size: 20 * MiB, cutAt: PART_SIZE + 2 * MiB },
];

for (const mode of modes) {
  const stackFor = () => stacks.find((s) => s.mode === mode)!;
  for (const c of cases) {
    test.serial(`${mode}: ${c.name} keeps what arrived, HEAD and the upload list agree with the store, and the rest completes it`, async (t) => {
      const stack = stackFor();
      const userId = randomUUID();
      const data = randomBytes(c.size);
      const id = await create(stack, userId, data.length);
      const recorded = async () => Number((await uploadSql.query('SELECT upload_offset FROM upload.upload_sessions WHERE id = $1', [id])).rows[0].upload_offset);
      const storedNow = () => stack.stored(id).catch(() => 0);
      await cutPatch(t, stack, userId, id, 0, data, c.cutAt, async () => ({ recorded: await recorded(), stored: await storedNow() }));

      // The store persists what arrived after the cut; wait until it is done writing.
      let stored = 0;
      await eventually(async () => (stored = await storedNow()) > (c.cutAt > PART_SIZE ? PART_SIZE : 0), 10_000, 100);
      await sleep(500);
      stored = await storedNow();
      // Before any HEAD (which corrects the record): the session never records more than the store holds.
      t.true((await recorded()) <= stored, `the session records ${await recorded()}, the store holds ${stored}`);

      const offset = await headOffset(stack, userId, id);
      t.true(offset > 0, `HEAD answers ${offset} after ${c.cutAt} bytes were sent`);
      t.true(offset <= c.cutAt, 'no more than was sent');
      t.is(offset, stored, 'HEAD answers what the store holds');
      if (c.cutAt > PART_SIZE) t.true(offset > PART_SIZE, 'more than the full part is kept');

      t.is(await listedOffset(stack, userId, id), offset, 'the upload list says what HEAD says');
      t.is(await recorded(), offset, 'the session records what HEAD says');

      const rest = await patchRest(stack, userId, id, data, offset);
      t.is(rest.status, 204);
      t.is(rest.headers.get('upload-offset'), String(data.length));
      t.is(sha256(await stack.readObject(id)), sha256(data), 'the object has exactly the bytes sent');
    });
  }
}

/** The parts record as a map: these tests are about what S3 holds. */
class MemoryParts implements UploadPartRepository {
  private readonly parts = new Map<string, Map<number, UploadPart>>();
  async record(uploadId: string, parts: UploadPart[]): Promise<void> {
    const known = this.parts.get(uploadId) ?? new Map<number, UploadPart>();
    for (const part of parts) known.set(part.partNumber, part);
    this.parts.set(uploadId, known);
  }
  async list(uploadId: string): Promise<UploadPart[]> {
    return [...(this.parts.get(uploadId)?.values() ?? [])].sort((a, b) => a.partNumber - b.partNumber);
  }
  async removeAll(uploadId: string): Promise<void> {
    this.parts.delete(uploadId);
  }
}

// SIGKILLed while its UploadPart body was on the wire, the upload service leaves S3 a
// request that ends early. versitygw (posix) then keeps the part at its announced length,
// the bytes that never came as zeros, and lists it; the next instance must not count it.
// Held in memory or on disk, a part goes with its CRC32, and a cut one is refused the same.
for (const medium of realS3 ? (['memory', 'disk'] as const) : []) {
  test.serial(`s3 (part held on ${medium}): a part cut off mid-body by the death of the instance sending it is not counted: the next instance answers only what S3 holds whole, and the upload completes to the exact bytes`, async (t) => {
    const s3 = realS3!;
    const proxy = await S3CutProxy.to(s3.settings.endpoint);
    const client = await openTestBucket(s3);
    const spoolDir = mkdtempSync(join(tmpdir(), 'govault-cut-part-spool-'));
    t.teardown(async () => {
      await proxy.close();
      client.destroy();
      await rm(spoolDir, { recursive: true, force: true });
    });
    // What instances of the upload service share: the database (here its stand-ins) and S3.
    const shared = { cache: new MemoryKvStore(), parts: new MemoryParts() };
    const instance = (endpoint: string): DataStore =>
      createDataStore({
        s3: { ...s3.settings, endpoint },
        storageDir: tmpdir(),
        expirySeconds: 3600,
        maxUploadSize: 64 * MiB,
        ...shared,
        spool: { memory: new PartBufferPool(partSizeFor(64 * MiB), medium === 'memory' ? 64 * MiB : 0), dir: spoolDir, started: (held) => t.is(held, medium) },
        logger,
        keepFinished: async () => true,
      });
    const dying = instance(proxy.url);
    const data = randomBytes(12 * MiB);
    const upload = await dying.create(new Upload({ id: randomUUID().replaceAll('-', ''), size: data.length, offset: 0, metadata: {} }));

    // 6 MiB: one part of its own (at least S3's 5 MiB minimum), of which S3 gets half.
    const answered = proxy.cutNextPart(3 * MiB);
    dying.write(Readable.from([data.subarray(0, 6 * MiB)]), upload.id, 0).catch(() => undefined);
    t.log(`S3 answered the cut UploadPart with: ${await answered}`);

    const next = instance(s3.settings.endpoint);
    const offset = (await next.getUpload(upload.id)).offset;
    t.true(offset <= 3 * MiB, `the next instance offers offset ${offset}; S3 received ${3 * MiB} bytes of the cut part`);
    t.is(await next.write(Readable.from([data.subarray(offset)]), upload.id, offset), data.length);
    t.is(sha256(await readTestObject(client, s3.bucket, upload.id)), sha256(data), 'the object has exactly the bytes sent');
  });
}
