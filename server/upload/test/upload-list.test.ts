import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { createLogger, listen, parseConfig } from '@govault/lib';
import { openTestBucket, testDatabases, testS3, testServiceKeys, type TestDatabase } from '@govault/lib/testing';
import { buildUploadApp, uploadConfigSchema } from '../src/index.ts';

/**
 * `GET /api/uploads?state=incomplete`, the list behind the web app's "Unfinished uploads":
 * the real upload service over HTTP on a real database, on disk and (when S3_* name a
 * server) on S3, driven as the gateway would call it. Nothing here completes, so no
 * files service is needed.
 */
const keys = testServiceKeys();
const gateway = keys.issuerFor('gateway');
const logger = createLogger('test', 'silent');
const MiB = 1024 * 1024;

type Mode = 'disk' | 's3';
const realS3 = testS3();
const modes: Mode[] = realS3 ? ['disk', 's3'] : ['disk'];
const bases = new Map<Mode, string>();
const closers: Array<() => Promise<unknown>> = [];
let database: TestDatabase;

test.before(async () => {
  database = (await testDatabases(['upload'])).upload;
  const dataDir = mkdtempSync(join(tmpdir(), 'govault-list-'));
  const start = async (mode: Mode, env: Record<string, string>) => {
    const app = await buildUploadApp(
      parseConfig(uploadConfigSchema, {
        UPLOAD_DATABASE_URL: database.url,
        INTERNAL_KEY_DIR: keys.dir,
        FILES_URL: 'http://127.0.0.1:9',
        MAX_UPLOAD_SIZE: String(64 * MiB),
        ...env,
      }),
      logger,
    );
    const server = await listen(app.app, '127.0.0.1', 0);
    closers.push(() => server.close(), app.close);
    bases.set(mode, `http://127.0.0.1:${server.port}`);
  };
  await start('disk', { DATA_DIR: dataDir, STORAGE_DIR: join(dataDir, 'objects') });
  if (realS3) {
    const client = await openTestBucket(realS3);
    closers.push(async () => client.destroy());
    await start('s3', { DATA_DIR: dataDir, ...realS3.env });
  }
});

test.after.always(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  await database?.stop();
});

const asUser = (userId: string) => ({ 'x-internal-token': gateway.issue('upload', { userId }), 'x-user-id': userId });
const base64 = (text: string) => Buffer.from(text).toString('base64');

/** A tus upload of `size` bytes that received only `sent` of them. */
async function partialTusUpload(base: string, userId: string, name: string, size: number, sent: number) {
  const tus = { ...asUser(userId), 'Tus-Resumable': '1.0.0' };
  const created = await fetch(`${base}/api/uploads/tus`, {
    method: 'POST',
    headers: { ...tus, 'Upload-Length': String(size), 'Upload-Metadata': `filename ${base64(name)}` },
  });
  if (created.status !== 201) throw new Error(`POST answered ${created.status}`);
  const url = created.headers.get('location')!;
  const patch = await fetch(url, {
    method: 'PATCH',
    headers: { ...tus, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
    body: randomBytes(sent),
  });
  if (patch.status !== 204) throw new Error(`PATCH answered ${patch.status}`);
  return url.split('/').pop()!;
}

/** A direct upload of `size` bytes whose first part (5 MiB) was PUT to its part URL, as Uppy does. */
async function partialDirectUpload(base: string, userId: string, name: string, size: number) {
  const headers = { ...asUser(userId), 'content-type': 'application/json' };
  const created = await fetch(`${base}/api/uploads/s3/multipart`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ filename: name, type: 'application/octet-stream', metadata: { name }, size }),
  });
  const { uploadId, key } = (await created.json()) as { uploadId: string; key: string };
  const signed = await fetch(`${base}/api/uploads/s3/multipart/${uploadId}/1?key=${encodeURIComponent(key)}`, { headers: asUser(userId) });
  const { url } = (await signed.json()) as { url: string };
  // Embedded part URLs point at the upload service through the gateway, which adds its token.
  const viaGateway = url.startsWith(base);
  const put = await fetch(url, { method: 'PUT', body: randomBytes(5 * MiB), headers: viaGateway ? { 'x-internal-token': gateway.issue('upload') } : {} });
  if (put.status !== 200) throw new Error(`part PUT answered ${put.status}`);
  return { uploadId, key };
}

async function unfinished(base: string, userId: string) {
  const response = await fetch(`${base}/api/uploads?state=incomplete`, { headers: asUser(userId) });
  return (await response.json()) as { items: Array<Record<string, unknown>> };
}

for (const mode of modes) {
  test.serial(`${mode}: a user's unfinished tus and direct uploads are listed with the bytes stored, direct ones with uploadId and key`, async (t) => {
    const base = bases.get(mode)!;
    const owner = randomUUID();
    const tusId = await partialTusUpload(base, owner, 'half.bin', 100_000, 40_000);
    const direct = await partialDirectUpload(base, owner, 'direct.bin', 12 * MiB);

    const { items } = await unfinished(base, owner);
    t.is(items.length, 2);
    const [newest, oldest] = items;
    t.like(newest, { id: direct.uploadId, mode: 'direct', name: 'direct.bin', size: 12 * MiB, offset: 5 * MiB, uploadId: direct.uploadId, key: direct.key });
    t.like(oldest, { id: tusId, mode: 'tus', name: 'half.bin', size: 100_000, offset: 40_000 });
    t.false('uploadId' in oldest! || 'key' in oldest!, 'a tus upload is resumed by its URL, not by a key');
  });

  test.serial(`${mode}: another user's unfinished uploads never appear, and aborted ones leave the list`, async (t) => {
    const base = bases.get(mode)!;
    const [ada, bob] = [randomUUID(), randomUUID()];
    await partialTusUpload(base, ada, 'ada tus.bin', 50_000, 10_000);
    const direct = await partialDirectUpload(base, ada, 'ada direct.bin', 6 * MiB);
    await partialTusUpload(base, bob, 'bob.bin', 50_000, 10_000);

    t.deepEqual((await unfinished(base, ada)).items.map((item) => item.name).sort(), ['ada direct.bin', 'ada tus.bin']);
    t.deepEqual((await unfinished(base, bob)).items.map((item) => item.name), ['bob.bin']);
    t.deepEqual((await unfinished(base, randomUUID())).items, []);

    const aborted = await fetch(`${base}/api/uploads/s3/multipart/${direct.uploadId}?key=${direct.key}`, { method: 'DELETE', headers: asUser(ada) });
    t.is(aborted.status, 200);
    t.deepEqual((await unfinished(base, ada)).items.map((item) => item.name), ['ada tus.bin']);
  });
}
