import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import test from 'ava';
import type Koa from 'koa';
import pg from 'pg';
import * as tus from 'tus-js-client';
import { createLogger, createS3Client, listen, parseConfig, s3EnvSchema, s3Settings, type RunningServer } from '@govault/lib';
import { testDatabases, testS3, testServiceKeys, type TestDatabase } from '@govault/lib/testing';
import { buildFilesApp, filesConfigSchema } from '@govault/files';
import { buildUploadApp, uploadConfigSchema } from '../src/index.ts';

/**
 * The upload service with the real files service beside it, over real HTTP, on a real
 * database; on disk, and on S3 when S3_* name a real server. Requests carry the
 * internal token the gateway would add.
 */
const keys = testServiceKeys();
const gateway = keys.issuerFor('gateway');
const logger = createLogger('test', 'silent');
const MiB = 1024 * 1024;

interface Stack {
  mode: 'disk' | 's3';
  uploadUrl: string;
  filesPort: number;
  filesApp: Koa;
  files: RunningServer;
  readObject(key: string): Promise<Buffer>;
}

const realS3 = testS3();
if (!realS3) console.warn('upload tests: S3 not configured here, disk mode only');
const modes = realS3 ? (['disk', 's3'] as const) : (['disk'] as const);

let databases: Record<'upload' | 'files', TestDatabase>;
let uploadSql: pg.Pool;
let filesSql: pg.Pool;
const stacks: Stack[] = [];
const closers: Array<() => Promise<unknown>> = [];

async function startStack(mode: 'disk' | 's3', env: Record<string, string>, readObject: Stack['readObject']): Promise<Stack> {
  const files = await buildFilesApp(
    parseConfig(filesConfigSchema, { FILES_DATABASE_URL: databases.files.url, INTERNAL_KEY_DIR: keys.dir, ...env }),
    logger,
  );
  const filesServer = await listen(files.app, '127.0.0.1', 0);
  const upload = await buildUploadApp(
    parseConfig(uploadConfigSchema, {
      UPLOAD_DATABASE_URL: databases.upload.url,
      INTERNAL_KEY_DIR: keys.dir,
      FILES_URL: `http://127.0.0.1:${filesServer.port}`,
      MAX_UPLOAD_SIZE: String(64 * MiB),
      ...env,
    }),
    logger,
  );
  const uploadServer = await listen(upload.app, '127.0.0.1', 0);
  closers.push(() => uploadServer.close(), upload.close, () => filesServer.close(), files.close);
  return {
    mode,
    uploadUrl: `http://127.0.0.1:${uploadServer.port}/api/uploads/tus`,
    filesPort: filesServer.port,
    filesApp: files.app,
    files: filesServer,
    readObject,
  };
}

test.before(async () => {
  databases = await testDatabases(['upload', 'files']);
  const storageDir = mkdtempSync(join(tmpdir(), 'govault-upload-objects-'));
  const { readFile } = await import('node:fs/promises');
  stacks.push(await startStack('disk', { STORAGE_DIR: storageDir }, (key) => readFile(join(storageDir, key))));
  const real = realS3;
  if (real) {
    const env = {
      S3_ENDPOINT: real.endpoint,
      S3_BUCKET: real.bucket,
      S3_REGION: real.region,
      S3_ACCESS_KEY_ID: real.accessKeyId,
      S3_SECRET_ACCESS_KEY: real.secretAccessKey,
    };
    const client = createS3Client(s3Settings(parseConfig(s3EnvSchema, env))!);
    await client.send(new CreateBucketCommand({ Bucket: real.bucket })).catch((err: Error) => {
      if (!['BucketAlreadyOwnedByYou', 'BucketAlreadyExists'].includes(err.name)) throw err;
    });
    const readObject = async (key: string) => {
      const object = await client.send(new GetObjectCommand({ Bucket: real.bucket, Key: key }));
      return Buffer.from(await object.Body!.transformToByteArray());
    };
    stacks.push(await startStack('s3', env, readObject));
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

const asUser = (userId: string) => ({ 'x-internal-token': gateway.issue('upload', { userId }), 'x-user-id': userId });
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

interface Uploaded {
  url: string;
  fileId: string | undefined;
}

function upload(stack: Stack, userId: string, data: Buffer, options: Partial<tus.UploadOptions> = {}): Promise<Uploaded> {
  let fileId: string | undefined;
  return new Promise((resolve, reject) => {
    const u = new tus.Upload(data, {
      endpoint: stack.uploadUrl,
      headers: asUser(userId),
      retryDelays: [],
      metadata: { filename: 'report.pdf', filetype: 'application/pdf' },
      onAfterResponse: (_req, res) => {
        fileId = res.getHeader('GoVault-File-Id') ?? fileId;
      },
      onSuccess: () => resolve({ url: u.url!, fileId }),
      onError: reject,
      ...options,
    });
    u.start();
  });
}

async function eventually(check: () => Promise<boolean>, timeoutMs = 3_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return check();
}

const uploadIdOf = (url: string) => url.split('/').pop()!;

async function sessionRow(uploadId: string) {
  const { rows } = await uploadSql.query('SELECT * FROM upload.upload_sessions WHERE id = $1', [uploadId]);
  return rows[0] as { owner_id: string; filename: string; size: string; upload_offset: string; state: string; file_id: string | null; storage_key: string };
}

async function fileRow(fileId: string) {
  const { rows } = await filesSql.query('SELECT * FROM files.files WHERE id = $1', [fileId]);
  return rows[0] as { name: string; size: string; owner_id: string; content_type: string } | undefined;
}

for (const mode of modes) {
  const stackFor = () => stacks.find((s) => s.mode === mode)!;

  test.serial(`${mode}: a chunked upload with a UTF-8 name is stored intact, recorded, and registered once`, async (t) => {
    const stack = stackFor();
    const userId = randomUUID();
    const data = randomBytes(12 * MiB + 123);
    const name = 'Zürich – 東京 📦 report.pdf';
    const done = await upload(stack, userId, data, { chunkSize: 5 * MiB, metadata: { filename: name, filetype: 'application/pdf' } });

    t.truthy(done.fileId, 'the completing PATCH answers GoVault-File-Id');
    const session = await sessionRow(uploadIdOf(done.url));
    t.like(session, { owner_id: userId, filename: name, state: 'completed', file_id: done.fileId });
    t.is(Number(session.size), data.length);
    t.is(Number(session.upload_offset), data.length);
    t.like(await fileRow(done.fileId!), { name, owner_id: userId, content_type: 'application/pdf' });
    t.is(sha256(await stack.readObject(session.storage_key)), sha256(data), 'the stored object has the same bytes');

    const head = await fetch(done.url, { method: 'HEAD', headers: { ...asUser(userId), 'Tus-Resumable': '1.0.0' } });
    t.is(head.headers.get('GoVault-File-Id'), done.fileId ?? null, 'a HEAD on the finished upload names the same file');
    const { rows } = await filesSql.query('SELECT count(*)::int AS n FROM files.files WHERE upload_id = $1', [uploadIdOf(done.url)]);
    t.is(rows[0].n, 1);
  });

  test.serial(`${mode}: deferred length and creation-with-upload complete`, async (t) => {
    const stack = stackFor();
    const userId = randomUUID();
    const small = randomBytes(300 * 1024);
    const created = await upload(stack, userId, small, { uploadDataDuringCreation: true });
    t.truthy(created.fileId);
    t.is(sha256(await stack.readObject((await sessionRow(uploadIdOf(created.url))).storage_key)), sha256(small));

    const deferred = await upload(stack, userId, randomBytes(6 * MiB), { uploadLengthDeferred: true, chunkSize: 5 * MiB });
    t.truthy(deferred.fileId);
    t.is(Number((await sessionRow(uploadIdOf(deferred.url))).size), 6 * MiB);
  });

  test.serial(`${mode}: only the owner can see, continue or delete an upload`, async (t) => {
    const stack = stackFor();
    const owner = randomUUID();
    const stranger = randomUUID();
    const create = await fetch(stack.uploadUrl, {
      method: 'POST',
      headers: { ...asUser(owner), 'Tus-Resumable': '1.0.0', 'Upload-Length': '10' },
    });
    t.is(create.status, 201);
    const location = create.headers.get('location')!;
    for (const method of ['HEAD', 'PATCH', 'DELETE']) {
      const response = await fetch(location, {
        method,
        headers: {
          ...asUser(stranger),
          'Tus-Resumable': '1.0.0',
          'Upload-Offset': '0',
          'Content-Type': 'application/offset+octet-stream',
        },
        body: method === 'PATCH' ? 'x' : undefined,
      });
      t.is(response.status, 404, `${method} by a stranger`);
    }
    const ownHead = await fetch(location, { method: 'HEAD', headers: { ...asUser(owner), 'Tus-Resumable': '1.0.0' } });
    t.is(ownHead.status, 200);
    t.is(ownHead.headers.get('upload-offset'), '0', "the stranger's PATCH wrote nothing");

    const terminated = await fetch(location, { method: 'DELETE', headers: { ...asUser(owner), 'Tus-Resumable': '1.0.0' } });
    t.is(terminated.status, 204);
    // Termination is recorded right after the answer (tus emits it once the 204 is built).
    t.true(await eventually(async () => (await sessionRow(uploadIdOf(location))).state === 'terminated'));
    const gone = await fetch(location, { method: 'HEAD', headers: { ...asUser(owner), 'Tus-Resumable': '1.0.0' } });
    t.true([404, 410].includes(gone.status), `HEAD after termination: ${gone.status}`);
  });

  test.serial(`${mode}: malformed tus requests get the protocol's 4xx`, async (t) => {
    const stack = stackFor();
    const user = asUser(randomUUID());
    const post = (headers: Record<string, string>) => fetch(stack.uploadUrl, { method: 'POST', headers: { ...user, ...headers } });
    t.is((await post({ 'Upload-Length': '10' })).status, 412, 'missing Tus-Resumable');
    t.is((await post({ 'Tus-Resumable': '1.0.0', 'Upload-Length': '-1' })).status, 400, 'negative length');
    t.is((await post({ 'Tus-Resumable': '1.0.0', 'Upload-Length': String(65 * MiB) })).status, 413, 'over the maximum size');
    t.is((await post({ 'Tus-Resumable': '1.0.0', 'Upload-Length': '10', 'Upload-Metadata': 'filename ***' })).status, 400, 'bad base64');
    t.is((await post({ 'Tus-Resumable': '1.0.0' })).status, 400, 'neither length nor deferral');
    const unknown = await fetch(`${stack.uploadUrl}/${'f'.repeat(32)}`, { method: 'HEAD', headers: { ...user, 'Tus-Resumable': '1.0.0' } });
    t.is(unknown.status, 404);
  });
}

test.serial('an upload that finishes while the files service is down is registered by the next HEAD', async (t) => {
  const stack = stacks.find((s) => s.mode === 'disk')!;
  const userId = randomUUID();
  await stack.files.close();
  stack.files.server.closeAllConnections();
  const done = await upload(stack, userId, randomBytes(1000));
  t.is(done.fileId, undefined, 'no file id while files is away');
  t.is((await sessionRow(uploadIdOf(done.url))).state, 'completed', 'the upload itself is complete');

  const revived = createServer(stack.filesApp.callback());
  await new Promise<void>((resolve) => revived.listen(stack.filesPort, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => revived.close(() => resolve())));
  const head = await fetch(done.url, { method: 'HEAD', headers: { ...asUser(userId), 'Tus-Resumable': '1.0.0' } });
  t.is(head.status, 200);
  const fileId = head.headers.get('GoVault-File-Id');
  t.truthy(fileId);
  t.like(await fileRow(fileId!), { owner_id: userId, name: 'report.pdf' });
  t.is((revived.address() as AddressInfo).port, stack.filesPort);
});
