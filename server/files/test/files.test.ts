import test from 'ava';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { createLogger, createS3Client, listen, parseConfig, type RunningServer, type S3Settings } from '@govault/lib';
import { openTestBucket, testDatabase, testS3, testServiceKeys, type TestDatabase } from '@govault/lib/testing';
import pg from 'pg';
import { buildFilesApp, filesConfigSchema, type FileView } from '../src/index.ts';

/**
 * The files service over real HTTP against a real database (embedded PGlite unless
 * FILES_DATABASE_URL is set): one database, a disk-mode app, and an S3-mode app when
 * S3_* point at a real S3 server.
 */
const keys = testServiceKeys();
const storageDir = mkdtempSync(join(tmpdir(), 'govault-files-objects-'));
const logger = createLogger('files', 'silent');

interface Running {
  url: string;
  server: RunningServer;
  close(): Promise<void>;
}

const realS3 = testS3();
let db: TestDatabase;
let sql: pg.Pool;
let disk: Running;
let s3: { app: Running; settings: S3Settings } | undefined;

async function start(env: Record<string, string>): Promise<Running> {
  const config = parseConfig(filesConfigSchema, {
    FILES_DATABASE_URL: db.url,
    INTERNAL_KEY_DIR: keys.dir,
    LOG_LEVEL: 'silent',
    HOUSEKEEPING_INTERVAL_SECONDS: '0',
    ...env,
  });
  const built = await buildFilesApp(config, logger);
  const server = await listen(built.app, '127.0.0.1', 0);
  return { url: `http://127.0.0.1:${server.port}`, server, close: built.close };
}

test.before(async () => {
  db = await testDatabase('files');
  disk = await start({ STORAGE_DIR: storageDir });
  sql = new pg.Pool({ connectionString: db.url, max: 4 });
  if (realS3) {
    (await openTestBucket(realS3)).destroy();
    s3 = { app: await start(realS3.env), settings: realS3.settings };
  }
});

test.after.always(async () => {
  for (const running of [disk, s3?.app]) {
    if (!running) continue;
    await running.server.close();
    await running.close();
  }
  await sql?.end();
  await db?.stop();
});

// --- helpers -------------------------------------------------------------------------

function register(body: unknown, base = disk.url, token = keys.issuerFor('upload').issue('files')) {
  return fetch(`${base}/internal/files`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-internal-token': token },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

function asUser(userId: string, path: string, init: RequestInit & { base?: string } = {}) {
  const token = keys.issuerFor('gateway').issue('files', { userId });
  const headers = { 'x-internal-token': token, ...(init.headers as Record<string, string> | undefined) };
  return fetch(`${init.base ?? disk.url}${path}`, { ...init, headers, redirect: 'manual' });
}

function registration(ownerId: string, overrides: Record<string, unknown> = {}) {
  const uploadId = randomUUID().replaceAll('-', '');
  return { uploadId, ownerId, name: 'notes.txt', size: 5, contentType: 'text/plain', storageKey: uploadId, ...overrides };
}

async function newFile(ownerId: string, overrides: Record<string, unknown> = {}, base = disk.url): Promise<FileView> {
  const response = await register(registration(ownerId, overrides), base);
  if (response.status !== 201) throw new Error(`register answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as FileView;
}

/** Puts bytes where the upload service's @tus/file-store would have written them. */
function writeObject(key: string, bytes: Buffer | string): void {
  const path = join(storageDir, key);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, bytes);
}

async function listAll(userId: string, query: string): Promise<{ pages: FileView[][]; status: number[] }> {
  const pages: FileView[][] = [];
  const status: number[] = [];
  let cursor: string | null = null;
  do {
    const suffix: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    const response = await asUser(userId, `/api/files?${query}${suffix}`);
    status.push(response.status);
    const body = (await response.json()) as { items: FileView[]; nextCursor: string | null };
    pages.push(body.items);
    cursor = body.nextCursor;
  } while (cursor && pages.length < 20);
  return { pages, status };
}

async function errorOf(response: Response) {
  const body = (await response.json()) as { error: { code: string; message: string; requestId: string } };
  return { status: response.status, ...body.error };
}

const UTF8_NAME = 'résumé 東京.txt';
const UTF8_DISPOSITION = `attachment; filename="resume __.txt"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%E6%9D%B1%E4%BA%AC.txt`;

// --- registration --------------------------------------------------------------------

test('registering an upload creates the file; registering it again answers the same file', async (t) => {
  const ownerId = randomUUID();
  const body = registration(ownerId, { name: UTF8_NAME, size: 5 * 2 ** 40, checksum: 'sha256:abc' });
  const first = await register(body);
  t.is(first.status, 201);
  const file = (await first.json()) as FileView;
  t.like(file, {
    name: UTF8_NAME,
    size: 5 * 2 ** 40,
    contentType: 'text/plain',
    checksum: 'sha256:abc',
    visibility: 'private',
    ownerId,
    role: 'owner',
    deletedAt: null,
  });
  t.regex(file.id, /^[0-9a-f-]{36}$/);
  t.is(file.createdAt, file.updatedAt);

  const again = await register(body);
  t.is(again.status, 200);
  t.deepEqual(await again.json(), file);
});

test('two concurrent registrations of one upload make one file', async (t) => {
  const body = registration(randomUUID());
  const responses = await Promise.all([register(body), register(body), register(body)]);
  t.deepEqual(responses.map((r) => r.status).sort(), [200, 200, 201]);
  const ids = new Set(await Promise.all(responses.map(async (r) => ((await r.json()) as FileView).id)));
  t.is(ids.size, 1);
  const rows = await sql.query('SELECT id FROM files.files WHERE upload_id = $1', [body.uploadId]);
  t.is(rows.rowCount, 1);
});

test('registering an upload id again for another owner is a conflict', async (t) => {
  const body = registration(randomUUID());
  t.is((await register(body)).status, 201);
  const other = await register({ ...body, ownerId: randomUUID() });
  t.like(await errorOf(other), { status: 409, code: 'conflict' });
});

test('a registration with a bad name, key or size is refused with 400', async (t) => {
  const ownerId = randomUUID();
  for (const overrides of [
    { name: 'a/b.txt' },
    { name: 'a\\b.txt' },
    { name: 'line\nbreak.txt' },
    { name: '' },
    { name: 'x'.repeat(256) },
    { storageKey: '../../etc/passwd' },
    { storageKey: '/abs' },
    { size: -1 },
    { size: 1.5 },
    { size: '5' },
    { ownerId: 'not-a-uuid' },
  ]) {
    const response = await register(registration(ownerId, overrides));
    t.like(await errorOf(response), { status: 400, code: 'validation_failed' }, JSON.stringify(overrides));
  }
  t.like(await errorOf(await register('{"not json')), { status: 400, code: 'validation_failed' });
  t.like(await errorOf(await register({})), { status: 400, code: 'validation_failed' });
});

test('an empty content type is stored as application/octet-stream', async (t) => {
  const file = await newFile(randomUUID(), { contentType: '' });
  t.is(file.contentType, 'application/octet-stream');
});

// --- internal tokens -----------------------------------------------------------------

test('requests without a valid internal token are refused with 401', async (t) => {
  const userId = randomUUID();
  const noToken = await fetch(`${disk.url}/api/files`);
  t.like(await errorOf(noToken), { status: 401, code: 'unauthenticated' });
  t.truthy(noToken.headers.get('x-request-id'));

  const internalNoToken = await fetch(`${disk.url}/internal/files`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(registration(userId)),
  });
  t.is(internalNoToken.status, 401);

  // The gateway may call /api/files but not /internal/files; the upload service the reverse.
  const fromGateway = await register(registration(userId), disk.url, keys.issuerFor('gateway').issue('files', { userId }));
  t.like(await errorOf(fromGateway), { status: 401, code: 'unauthenticated' });
  const fromUpload = await fetch(`${disk.url}/api/files`, {
    headers: { 'x-internal-token': keys.issuerFor('upload').issue('files', { userId }) },
  });
  t.is(fromUpload.status, 401);

  // A token for another audience, a token without a user, and an X-User-Id that does not match.
  const otherAudience = await fetch(`${disk.url}/api/files`, {
    headers: { 'x-internal-token': keys.issuerFor('gateway').issue('upload', { userId }) },
  });
  t.is(otherAudience.status, 401);
  const noUser = await fetch(`${disk.url}/api/files`, {
    headers: { 'x-internal-token': keys.issuerFor('gateway').issue('files') },
  });
  t.is(noUser.status, 401);
  const spoofed = await asUser(userId, '/api/files', { headers: { 'x-user-id': randomUUID() } });
  t.is(spoofed.status, 401);

  t.is((await fetch(`${disk.url}/healthz`)).status, 200);
  t.is((await fetch(`${disk.url}/readyz`)).status, 200);
  const metrics = await (await fetch(`${disk.url}/metrics`)).text();
  t.regex(metrics, /http_requests_total\{[^}]*route="\/api\/files"[^}]*status="401"/);
});

test('an unknown route or method answers the JSON 404', async (t) => {
  const userId = randomUUID();
  t.like(await errorOf(await asUser(userId, '/api/nothing')), { status: 404, code: 'not_found' });
  t.like(await errorOf(await asUser(userId, '/api/files', { method: 'PUT' })), { status: 404, code: 'not_found' });
});

// --- listing -------------------------------------------------------------------------

test('the owned view pages through files newest first with no duplicates or gaps', async (t) => {
  const ownerId = randomUUID();
  const files: FileView[] = [];
  for (let i = 0; i < 7; i++) files.push(await newFile(ownerId, { name: `file-${i}.txt` }));
  // Distinct creation times, except two files that share one: the id breaks the tie.
  const base = Date.parse('2024-05-01T12:00:00.000Z');
  for (const [i, file] of files.entries()) {
    const at = new Date(base + (i === 4 ? 3 : i) * 1000);
    await sql.query('UPDATE files.files SET created_at = $2 WHERE id = $1', [file.id, at]);
  }
  const createdAt = (f: FileView, i: number) => base + (i === 4 ? 3 : i) * 1000;
  const expected = files
    .map((f, i) => ({ id: f.id, at: createdAt(f, i) }))
    .sort((a, b) => b.at - a.at || (a.id < b.id ? 1 : -1))
    .map((f) => f.id);

  const { pages, status } = await listAll(ownerId, 'view=owned&limit=3');
  t.deepEqual(status, [200, 200, 200]);
  t.deepEqual(pages.map((p) => p.length), [3, 3, 1]);
  t.deepEqual(pages.flat().map((f) => f.id), expected);
  t.true(pages.flat().every((f) => f.role === 'owner' && f.ownerId === ownerId));

  const whole = await (await asUser(ownerId, '/api/files')).json();
  t.deepEqual((whole as { items: FileView[] }).items.map((f) => f.id), expected);
  t.is((whole as { nextCursor: unknown }).nextCursor, null);

  const exact = await (await asUser(ownerId, '/api/files?limit=7')).json();
  t.is((exact as { nextCursor: unknown }).nextCursor, null);
});

test('q filters names case-insensitively and matches LIKE wildcards literally', async (t) => {
  const ownerId = randomUUID();
  for (const name of ['alpha.txt', 'Beta Report.pdf', 'gamma_1.txt', 'gammaX1.txt', '100% done.md', 'résumé.txt']) {
    await newFile(ownerId, { name });
  }
  const names = async (q: string) =>
    ((await (await asUser(ownerId, `/api/files?q=${encodeURIComponent(q)}`)).json()) as { items: FileView[] }).items
      .map((f) => f.name)
      .sort();
  t.deepEqual(await names('beta'), ['Beta Report.pdf']);
  t.deepEqual(await names('REPORT'), ['Beta Report.pdf']);
  t.deepEqual(await names('_1'), ['gamma_1.txt']);
  t.deepEqual(await names('%'), ['100% done.md']);
  t.deepEqual(await names('gamma'), ['gammaX1.txt', 'gamma_1.txt']);
  t.deepEqual(await names('RÉSUMÉ'), ['résumé.txt']);
  t.deepEqual(await names('\\'), []);
  t.deepEqual(await names('nothing'), []);
  t.is((await names('')).length, 6);

  const { pages } = await listAll(ownerId, 'q=gamma&limit=1');
  t.deepEqual(pages.flat().map((f) => f.name).sort(), ['gammaX1.txt', 'gamma_1.txt']);
});

test('the trash view lists the owner\'s deleted files, newest deleted first; owned leaves them out', async (t) => {
  const ownerId = randomUUID();
  const kept = await newFile(ownerId);
  const trashed = [await newFile(ownerId), await newFile(ownerId), await newFile(ownerId)];
  for (const [i, file] of trashed.entries()) {
    await sql.query('UPDATE files.files SET deleted_at = $2 WHERE id = $1', [file.id, new Date(Date.UTC(2024, 0, 1 + i))]);
  }
  const { pages } = await listAll(ownerId, 'view=trash&limit=2');
  t.deepEqual(pages.flat().map((f) => f.id), trashed.map((f) => f.id).reverse());
  t.true(pages.flat().every((f) => f.deletedAt !== null));
  const owned = (await (await asUser(ownerId, '/api/files?view=owned')).json()) as { items: FileView[] };
  t.deepEqual(owned.items.map((f) => f.id), [kept.id]);

  // A cursor belongs to its view.
  const page = (await (await asUser(ownerId, '/api/files?view=trash&limit=1')).json()) as { nextCursor: string };
  const crossed = await asUser(ownerId, `/api/files?view=owned&cursor=${page.nextCursor}`);
  t.like(await errorOf(crossed), { status: 400, code: 'validation_failed' });
});

test('bad list parameters are answered 400', async (t) => {
  const userId = randomUUID();
  for (const query of [
    'limit=1000',
    'limit=0',
    'limit=abc',
    'limit=2.5',
    'view=everything',
    'cursor=not-a-cursor',
    `cursor=${Buffer.from('{"v":"owned","t":"yesterday","id":"x"}').toString('base64url')}`,
    `q=${'x'.repeat(300)}`,
  ]) {
    const response = await asUser(userId, `/api/files?${query}`);
    t.like(await errorOf(response), { status: 400, code: 'validation_failed' }, query);
  }
  const error = await errorOf(await asUser(userId, '/api/files?view=everything'));
  t.truthy(error.requestId);
});

// --- access --------------------------------------------------------------------------

test('another user sees none of a user\'s private files: not listed, 404 on metadata and content', async (t) => {
  const ownerId = randomUUID();
  const stranger = randomUUID();
  const file = await newFile(ownerId);
  writeObject(await storageKeyOf(file.id), 'hello');

  const listed = (await (await asUser(stranger, '/api/files')).json()) as { items: FileView[] };
  t.deepEqual(listed.items, []);
  t.like(await errorOf(await asUser(stranger, `/api/files/${file.id}`)), { status: 404, code: 'not_found' });
  t.like(await errorOf(await asUser(stranger, `/api/files/${file.id}/content`)), { status: 404, code: 'not_found' });
  // Exactly what an id that does not exist gets.
  t.like(await errorOf(await asUser(stranger, `/api/files/${randomUUID()}`)), { status: 404, code: 'not_found' });

  t.like(await (await asUser(ownerId, `/api/files/${file.id}`)).json(), { id: file.id, role: 'owner' });
  t.is(await (await asUser(ownerId, `/api/files/${file.id}/content`)).text(), 'hello');
});

test('a public file is readable by another user with role public, until it is trashed', async (t) => {
  const ownerId = randomUUID();
  const reader = randomUUID();
  const file = await newFile(ownerId);
  writeObject(await storageKeyOf(file.id), 'hello');
  await sql.query(`UPDATE files.files SET visibility = 'public' WHERE id = $1`, [file.id]);

  t.like(await (await asUser(reader, `/api/files/${file.id}`)).json(), { id: file.id, role: 'public', visibility: 'public' });
  t.is(await (await asUser(reader, `/api/files/${file.id}/content`)).text(), 'hello');
  const listed = (await (await asUser(reader, '/api/files')).json()) as { items: FileView[] };
  t.deepEqual(listed.items, []);

  await sql.query('UPDATE files.files SET deleted_at = now() WHERE id = $1', [file.id]);
  t.is((await asUser(reader, `/api/files/${file.id}`)).status, 404);
  t.is((await asUser(reader, `/api/files/${file.id}/content`)).status, 404);
  t.like(await (await asUser(ownerId, `/api/files/${file.id}`)).json(), { role: 'owner' });
});

test('a malformed file id is answered 400', async (t) => {
  const userId = randomUUID();
  for (const path of ['/api/files/not-a-uuid', '/api/files/123/content', `/api/files/${randomUUID()}x`]) {
    t.like(await errorOf(await asUser(userId, path)), { status: 400, code: 'validation_failed' }, path);
  }
});

async function storageKeyOf(id: string): Promise<string> {
  const { rows } = await sql.query<{ storage_key: string }>('SELECT storage_key FROM files.files WHERE id = $1', [id]);
  return rows[0]!.storage_key;
}

// --- content, disk mode --------------------------------------------------------------

test('disk mode serves the bytes with type, length and the UTF-8 name', async (t) => {
  const ownerId = randomUUID();
  const bytes = Buffer.from('0123456789abcdef');
  const key = `uploads/${randomUUID()}`;
  const file = await newFile(ownerId, { name: UTF8_NAME, size: bytes.length, storageKey: key });
  writeObject(key, bytes);

  const response = await asUser(ownerId, `/api/files/${file.id}/content`);
  t.is(response.status, 200);
  t.is(response.headers.get('content-type'), 'text/plain');
  t.is(response.headers.get('content-length'), '16');
  t.is(response.headers.get('accept-ranges'), 'bytes');
  t.is(response.headers.get('content-disposition'), UTF8_DISPOSITION);
  t.deepEqual(Buffer.from(await response.arrayBuffer()), bytes);
});

test('disk mode answers single byte ranges with 206 and unsatisfiable ones with 416', async (t) => {
  const ownerId = randomUUID();
  const bytes = Buffer.from('0123456789abcdef');
  const file = await newFile(ownerId, { size: bytes.length });
  writeObject(await storageKeyOf(file.id), bytes);
  const get = (range: string) => asUser(ownerId, `/api/files/${file.id}/content`, { headers: { range } });

  for (const [range, start, end] of [
    ['bytes=2-5', 2, 5],
    ['bytes=10-', 10, 15],
    ['bytes=-4', 12, 15],
    ['bytes=14-99', 14, 15],
  ] as const) {
    const response = await get(range);
    t.is(response.status, 206, range);
    t.is(response.headers.get('content-range'), `bytes ${start}-${end}/16`, range);
    t.is(response.headers.get('content-length'), String(end - start + 1), range);
    t.is(await response.text(), bytes.subarray(start, end + 1).toString(), range);
  }

  const unsatisfiable = await get('bytes=16-');
  t.is(unsatisfiable.headers.get('content-range'), 'bytes */16');
  t.like(await errorOf(unsatisfiable), { status: 416 });

  const ignored = await get('bytes=0-1,4-5');
  t.is(ignored.status, 200);
  t.is(await ignored.text(), bytes.toString());
});

test('disk mode answers 404 when the object is missing from the store', async (t) => {
  const ownerId = randomUUID();
  const file = await newFile(ownerId);
  t.like(await errorOf(await asUser(ownerId, `/api/files/${file.id}/content`)), { status: 404, code: 'not_found' });
});

test('disk mode serves an empty file', async (t) => {
  const ownerId = randomUUID();
  const file = await newFile(ownerId, { size: 0 });
  writeObject(await storageKeyOf(file.id), '');
  const response = await asUser(ownerId, `/api/files/${file.id}/content`);
  t.is(response.status, 200);
  t.is(response.headers.get('content-length'), '0');
  t.is(await response.text(), '');
});

// --- content, S3 mode ----------------------------------------------------------------

// Registered only where S3 is configured; CI requires it, so there it always runs.
if (realS3) test('S3 mode redirects to a presigned GET that downloads the bytes under the UTF-8 name', async (t) => {
  if (!s3) throw new Error('the S3 app did not start');
  const ownerId = randomUUID();
  const key = `objects/${randomUUID()}`;
  const bytes = Buffer.from('bytes that live in S3');
  const client = createS3Client(s3.settings);
  await client.send(new PutObjectCommand({ Bucket: s3.settings.bucket, Key: key, Body: bytes }));
  client.destroy();
  const file = await newFile(ownerId, { name: UTF8_NAME, size: bytes.length, storageKey: key, contentType: 'text/plain' }, s3.app.url);

  const response = await asUser(ownerId, `/api/files/${file.id}/content`, { base: s3.app.url });
  t.is(response.status, 302);
  const location = response.headers.get('location')!;
  t.true(location.startsWith(s3.settings.publicEndpoint), location);
  t.regex(location, /X-Amz-Expires=60/);

  const download = await fetch(location);
  t.is(download.status, 200);
  t.is(download.headers.get('content-disposition'), UTF8_DISPOSITION);
  t.is(download.headers.get('content-type'), 'text/plain');
  t.deepEqual(Buffer.from(await download.arrayBuffer()), bytes);

  const stranger = await asUser(randomUUID(), `/api/files/${file.id}/content`, { base: s3.app.url });
  t.is(stranger.status, 404);
  t.is((await fetch(`${s3.app.url}/readyz`)).status, 200);
});
