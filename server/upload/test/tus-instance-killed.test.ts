import { createHash, randomBytes, randomUUID } from 'node:crypto';
import test from 'ava';
import pg from 'pg';
import { createLogger } from '@govault/lib';
import { testDatabases, testS3, testServiceKeys, type TestDatabase } from '@govault/lib/testing';
import { S3KillSwitch, type KillPoint } from './s3-kill-switch.ts';
import { startFilesService, startUploadService } from './services.ts';

/**
 * Two upload instances share the database and S3, as behind the gateway; one dies
 * (SIGKILL, modelled by cutting it off from S3 at a chosen request) while a PATCH is
 * finishing an upload. The client then does what tus-js-client does on its retry: HEAD
 * on the surviving instance, and PATCH whatever that says is missing. However the
 * upload got there, it must end as exactly one registered file whose object in S3 holds
 * the bytes the client sent: never a file whose download is a 404.
 */
const keys = testServiceKeys();
const gateway = keys.issuerFor('gateway');
const logger = createLogger('test', 'silent');
const KiB = 1024;
const MiB = 1024 * KiB;

const realS3 = testS3();
if (!realS3) console.warn('tus instance-killed tests: S3 not configured here; they need it');

let databases: Record<'upload' | 'files', TestDatabase>;
let filesSql: pg.Pool;
let killSwitch: S3KillSwitch;
let filesBase: string;
let dyingBase: string;
let survivingBase: string;
const closers: Array<() => Promise<unknown>> = [];

test.before(async () => {
  if (!realS3) return;
  databases = await testDatabases(['upload', 'files']);
  killSwitch = await S3KillSwitch.to(realS3.settings.endpoint);
  const setup = { databases, keyDir: keys.dir, logger, closers };
  const files = await startFilesService(setup, realS3.env);
  filesBase = `http://127.0.0.1:${files.port}`;
  const instance = async (endpoint: string) =>
    `http://127.0.0.1:${(await startUploadService(setup, files.port, { ...realS3.env, S3_ENDPOINT: endpoint })).port}`;
  dyingBase = await instance(killSwitch.url);
  survivingBase = await instance(realS3.settings.endpoint);
  filesSql = new pg.Pool({ connectionString: databases.files.url, max: 2 });
});

test.after.always(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  await killSwitch?.close();
  await filesSql?.end();
  await databases?.upload.stop();
  await databases?.files.stop();
});

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
const tusHeaders = (userId: string) => ({
  'x-internal-token': gateway.issue('upload', { userId }),
  'x-user-id': userId,
  'Tus-Resumable': '1.0.0',
});

async function create(base: string, userId: string, size: number): Promise<string> {
  const response = await fetch(`${base}/api/uploads/tus`, {
    method: 'POST',
    headers: { ...tusHeaders(userId), 'Upload-Length': String(size), 'Upload-Metadata': `filename ${Buffer.from('killed.bin').toString('base64')}` },
  });
  if (response.status !== 201) throw new Error(`create answered ${response.status}`);
  return response.headers.get('location')!.split('/').pop()!;
}

function patch(base: string, userId: string, id: string, data: Buffer, from: number): Promise<Response> {
  return fetch(`${base}/api/uploads/tus/${id}`, {
    method: 'PATCH',
    headers: { ...tusHeaders(userId), 'Upload-Offset': String(from), 'Content-Type': 'application/offset+octet-stream' },
    body: data.subarray(from),
  });
}

/** tus-js-client's retry after a failed PATCH: HEAD for the offset, then PATCH the rest if any is missing. */
async function resume(base: string, userId: string, id: string, data: Buffer): Promise<{ fileId: string | null; statuses: number[] }> {
  const head = await fetch(`${base}/api/uploads/tus/${id}`, { method: 'HEAD', headers: tusHeaders(userId) });
  if (head.status !== 200) return { fileId: null, statuses: [head.status] };
  const offset = Number(head.headers.get('upload-offset'));
  if (offset === data.length) return { fileId: head.headers.get('GoVault-File-Id'), statuses: [head.status] };
  const rest = await patch(base, userId, id, data, offset);
  return { fileId: rest.headers.get('GoVault-File-Id'), statuses: [head.status, rest.status] };
}

/** What the owner downloads: `/content` answers 302 to a presigned GET, which must answer the bytes. */
async function download(userId: string, fileId: string): Promise<{ status: number; body: Buffer }> {
  const content = await fetch(`${filesBase}/api/files/${fileId}/content`, {
    headers: { 'x-internal-token': gateway.issue('files', { userId }), 'x-user-id': userId },
    redirect: 'manual',
  });
  if (content.status !== 302) return { status: content.status, body: Buffer.alloc(0) };
  const object = await fetch(content.headers.get('location')!);
  return { status: object.status, body: Buffer.from(await object.arrayBuffer()) };
}

const filesOf = async (uploadId: string) =>
  (await filesSql.query<{ id: string; storage_key: string }>('SELECT id, storage_key FROM files.files WHERE upload_id = $1', [uploadId])).rows;

const filesOwnedBy = async (userId: string) =>
  (await filesSql.query<{ id: string }>('SELECT id FROM files.files WHERE owner_id = $1', [userId])).rows.map((r) => r.id);

const cases: Array<{ size: number; kill: KillPoint; label: string }> = [
  { size: 64 * KiB, kill: { request: 'UploadPart', when: 'before' }, label: 'before its only UploadPart' },
  { size: 64 * KiB, kill: { request: 'UploadPart', when: 'after' }, label: 'after its only UploadPart, before the part is recorded' },
  { size: 64 * KiB, kill: { request: 'CompleteMultipartUpload', when: 'before' }, label: 'between its last part and CompleteMultipartUpload' },
  { size: 64 * KiB, kill: { request: 'CompleteMultipartUpload', when: 'after' }, label: 'after CompleteMultipartUpload, before the registration' },
  { size: 12 * MiB, kill: { request: 'CompleteMultipartUpload', when: 'before' }, label: 'between the last of two parts and CompleteMultipartUpload' },
];

for (const c of cases) {
  const sizeLabel = c.size >= MiB ? `${c.size / MiB} MiB` : `${c.size / KiB} KiB`;
  test.serial(`s3: a ${sizeLabel} upload whose instance dies ${c.label} ends, resumed on the other instance, as one file whose download has the bytes sent`, async (t) => {
    if (!realS3) return t.pass('needs S3');
    killSwitch.revive();
    const userId = randomUUID();
    const data = randomBytes(c.size);
    const id = await create(dyingBase, userId, data.length);

    killSwitch.killAt(c.kill);
    const cut = await patch(dyingBase, userId, id, data, 0);
    t.true(killSwitch.killed, 'the instance died at the chosen request');
    t.true(cut.status >= 500, `the PATCH on the dying instance failed (${cut.status})`);

    const resumed = await resume(survivingBase, userId, id, data);
    t.log(`the retry on the surviving instance answered ${resumed.statuses.join(', ')}`);
    t.truthy(resumed.fileId, 'the client is told its file');

    const files = await filesOf(id);
    t.is(files.length, 1, 'exactly one file is registered for the upload');
    t.is(files[0]?.id, resumed.fileId ?? undefined);
    const downloaded = await download(userId, resumed.fileId!);
    t.is(downloaded.status, 200, 'the registered file has its object in S3');
    t.is(sha256(downloaded.body), sha256(data), 'and the object has exactly the bytes sent');
  });
}

// tus-js-client (and so Uppy) sends an empty file as a POST alone: no PATCH follows to
// complete the multipart upload, so the POST must, before the file is registered.
test.serial('s3: an empty upload (a POST alone) whose instance dies before completing it is no file; the retried POST is one file whose download is empty', async (t) => {
  if (!realS3) return t.pass('needs S3');
  killSwitch.revive();
  const userId = randomUUID();
  const post = (base: string) =>
    fetch(`${base}/api/uploads/tus`, {
      method: 'POST',
      headers: { ...tusHeaders(userId), 'Upload-Length': '0', 'Upload-Metadata': `filename ${Buffer.from('empty.txt').toString('base64')}` },
    });

  killSwitch.killAt({ request: 'CompleteMultipartUpload', when: 'before' });
  const cut = await post(dyingBase);
  t.true(killSwitch.killed, 'the instance died at CompleteMultipartUpload');
  t.true(cut.status >= 500, `the POST on the dying instance failed (${cut.status})`);
  t.deepEqual(await filesOwnedBy(userId), [], 'nothing is registered without its object');

  const retried = await post(survivingBase);
  t.is(retried.status, 201);
  const fileId = retried.headers.get('GoVault-File-Id');
  t.truthy(fileId, 'the POST names its file');
  t.deepEqual(await filesOwnedBy(userId), [fileId], 'one file');
  const downloaded = await download(userId, fileId!);
  t.is(downloaded.status, 200, 'the file has its object in S3');
  t.is(downloaded.body.length, 0);
});
