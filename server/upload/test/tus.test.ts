import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand, ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3';
import test from 'ava';
import type Koa from 'koa';
import pg from 'pg';
import * as tus from 'tus-js-client';
import { createLogger, type RunningServer } from '@govault/lib';
import { eventually, openTestBucket, readTestObject, testDatabases, testS3, testServiceKeys, type TestDatabase } from '@govault/lib/testing';
import { startFilesService, startUploadService } from './services.ts';
import type { UploadApp } from '../src/index.ts';

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
  upload: UploadApp;
  uploadBase: string;
  s3?: S3Client;
  storageDir?: string;
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
  const setup = { databases, keyDir: keys.dir, logger, closers };
  const files = await startFilesService(setup, env);
  const { upload, port } = await startUploadService(setup, files.port, { REGISTRATION_MAX_BACKOFF_SECONDS: '1', ...env });
  return {
    mode,
    uploadUrl: `http://127.0.0.1:${port}/api/uploads/tus`,
    filesPort: files.port,
    filesApp: files.app,
    files: files.server,
    readObject,
    upload,
    uploadBase: `http://127.0.0.1:${port}`,
  };
}

test.before(async () => {
  databases = await testDatabases(['upload', 'files']);
  const storageDir = mkdtempSync(join(tmpdir(), 'govault-upload-objects-'));
  const { readFile } = await import('node:fs/promises');
  stacks.push({ ...(await startStack('disk', { STORAGE_DIR: storageDir }, (key) => readFile(join(storageDir, key)))), storageDir });
  const real = realS3;
  if (real) {
    const client = await openTestBucket(real);
    stacks.push({ ...(await startStack('s3', real.env, (key) => readTestObject(client, real.bucket, key))), s3: client });
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

const uploadIdOf = (url: string) => url.split('/').pop()!;

/**
 * What a client gets from HEAD and PATCH on an upload it terminated. The termination
 * extension leaves "404 Not Found or 410 Gone" to the server; this one keeps track of
 * terminated uploads and answers 410 to both, from the moment the DELETE has answered.
 */
async function afterTermination(url: string, userId: string, offset: number): Promise<[number, number]> {
  const tusUser = { ...asUser(userId), 'Tus-Resumable': '1.0.0' };
  const head = await fetch(url, { method: 'HEAD', headers: tusUser });
  const patch = await fetch(url, {
    method: 'PATCH',
    headers: { ...tusUser, 'Upload-Offset': String(offset), 'Content-Type': 'application/offset+octet-stream' },
    body: 'x',
  });
  return [head.status, patch.status];
}

async function sessionRow(uploadId: string) {
  const { rows } = await uploadSql.query('SELECT * FROM upload.upload_sessions WHERE id = $1', [uploadId]);
  return rows[0] as { owner_id: string; filename: string; size: string; upload_offset: string; state: string; file_id: string | null; storage_key: string };
}

async function fileRow(fileId: string) {
  const { rows } = await filesSql.query('SELECT * FROM files.files WHERE id = $1', [fileId]);
  return rows[0] as { name: string; size: string; owner_id: string; content_type: string } | undefined;
}

/**
 * A complete upload as a crash after its last write leaves it: every byte in the store,
 * the session back to "uploading", no file, nothing queued (made so from a real upload).
 */
async function buildFilesRegistrationGap(stack: Stack, userId: string, data: Buffer): Promise<{ url: string; id: string }> {
  const done = await upload(stack, userId, data);
  const id = uploadIdOf(done.url);
  await filesSql.query('DELETE FROM files.files WHERE upload_id = $1', [id]);
  await uploadSql.query('DELETE FROM upload.registration_outbox WHERE upload_id = $1', [id]);
  await uploadSql.query("UPDATE upload.upload_sessions SET state = 'uploading', completed_at = NULL, file_id = NULL WHERE id = $1", [id]);
  return { url: done.url, id };
}

async function metricValue(stack: Stack, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${stack.uploadBase}/metrics`)).text();
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text.split('\n').find((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && wanted.every((w) => l.includes(w)));
  return line ? Number(line.split(' ').pop()) : 0;
}

async function multipartInFlight(stack: Stack, key: string): Promise<boolean> {
  const listed = await stack.s3!.send(new ListMultipartUploadsCommand({ Bucket: realS3!.bucket, Prefix: key }));
  return (listed.Uploads ?? []).some((u) => u.Key === key);
}

/** S3's ETag of a multipart object: md5 of the parts' binary md5s, dash, part count. */
function multipartEtag(etags: string[]): string {
  const joined = Buffer.concat(etags.map((e) => Buffer.from(e.replaceAll('"', ''), 'hex')));
  return `${createHash('md5').update(joined).digest('hex')}-${etags.length}`;
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

  test.serial(`${mode}: a declared sha256 checksum is kept with the file; a malformed one is refused before anything is created`, async (t) => {
    const stack = stackFor();
    const userId = randomUUID();
    const data = randomBytes(64 * 1024);
    const checksum = `sha256:${sha256(data)}`;
    const done = await upload(stack, userId, data, { metadata: { filename: 'declared.bin', checksum } });
    const { rows } = await filesSql.query('SELECT checksum FROM files.files WHERE id = $1', [done.fileId]);
    t.is(rows[0]?.checksum, checksum, 'the file carries the checksum its uploader declared');

    const encoded = (value: string) => `filename ${Buffer.from('bad.bin').toString('base64')},checksum ${Buffer.from(value).toString('base64')}`;
    for (const bad of ['md5:abc', `sha256:${sha256(data).toUpperCase()}`, `sha256:${sha256(data)}0`, 'sha256 ' + Buffer.from(data).toString('base64').slice(0, 44)]) {
      const answer = await fetch(stack.uploadUrl, {
        method: 'POST',
        headers: { ...asUser(userId), 'Tus-Resumable': '1.0.0', 'Upload-Length': '10', 'Upload-Metadata': encoded(bad) },
      });
      t.is(answer.status, 400, `checksum ${bad} is refused`);
      t.regex(await answer.text(), /checksum/, 'the answer says what is wrong');
    }
    const { rows: sessions } = await uploadSql.query('SELECT count(*)::int AS n FROM upload.upload_sessions WHERE owner_id = $1', [userId]);
    t.is(sessions[0].n, 1, 'only the good upload was created');
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
    t.deepEqual(await afterTermination(location, owner, 0), [410, 410], 'HEAD and PATCH right after the DELETE: 410 Gone');
    t.is((await sessionRow(uploadIdOf(location))).state, 'terminated');
  });

  test.serial(`${mode}: terminating a completed upload forgets it and keeps its file's bytes; an incomplete one loses its bytes`, async (t) => {
    const stack = stackFor();
    const userId = randomUUID();
    const tusUser = { ...asUser(userId), 'Tus-Resumable': '1.0.0' };
    const data = randomBytes(300 * 1024);
    const done = await upload(stack, userId, data);
    t.truthy(done.fileId);
    const terminated = await fetch(done.url, { method: 'DELETE', headers: tusUser });
    t.is(terminated.status, 204);
    // A PATCH at the final offset of a completed upload is answered 204; once terminated, 410.
    t.deepEqual(await afterTermination(done.url, userId, data.length), [410, 410], 'HEAD and PATCH after terminating the completed upload');
    t.is(sha256(await stack.readObject(uploadIdOf(done.url))), sha256(data), "the file's object is intact");
    t.like(await fileRow(done.fileId!), { owner_id: userId });
    t.is((await fetch(done.url, { method: 'DELETE', headers: tusUser })).status, 410, 'a second DELETE: gone');

    const create = await fetch(stack.uploadUrl, { method: 'POST', headers: { ...tusUser, 'Upload-Length': String(6 * MiB) } });
    const location = create.headers.get('location')!;
    const patch = await fetch(location, {
      method: 'PATCH',
      headers: { ...tusUser, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
      body: randomBytes(5 * MiB + 10),
    });
    t.is(patch.status, 204);
    t.is((await fetch(location, { method: 'DELETE', headers: tusUser })).status, 204);
    t.deepEqual(await afterTermination(location, userId, 5 * MiB + 10), [410, 410], 'HEAD and PATCH after terminating the incomplete upload');
    const id = uploadIdOf(location);
    if (stack.s3) t.false(await multipartInFlight(stack, id), 'the multipart upload of the incomplete upload was aborted');
    else t.false(existsSync(join(stack.storageDir!, id)), 'the partial file was removed');
  });

  test.serial(`${mode}: terminating an upload whose last bytes are stored but not yet recorded registers its file and keeps it`, async (t) => {
    // The request that wrote the last bytes released the lock and died before its
    // bookkeeping (or a DELETE slipped in between): the store has every byte, the
    // database still says "uploading", nothing is queued.
    const stack = stackFor();
    const userId = randomUUID();
    const tusUser = { ...asUser(userId), 'Tus-Resumable': '1.0.0' };
    const data = randomBytes(100 * 1024);
    const files = await buildFilesRegistrationGap(stack, userId, data);
    const terminated = await fetch(files.url, { method: 'DELETE', headers: tusUser });
    t.is(terminated.status, 204);
    const { rows } = await filesSql.query('SELECT id FROM files.files WHERE upload_id = $1', [files.id]);
    t.is(rows.length, 1, 'the finished upload became its file');
    t.is(sha256(await stack.readObject(files.id)), sha256(data));
    t.is((await sessionRow(files.id)).state, 'terminated');
    t.is((await sessionRow(files.id)).file_id, rows[0].id);
    t.is((await fetch(files.url, { method: 'HEAD', headers: tusUser })).status, 410);
  });

  test.serial(`${mode}: a DELETE racing the PATCH that completes an upload never leaves a file without its bytes`, async (t) => {
    const stack = stackFor();
    const userId = randomUUID();
    const tusUser = { ...asUser(userId), 'Tus-Resumable': '1.0.0' };
    for (let round = 0; round < 8; round++) {
      const data = randomBytes(64 * 1024 + round);
      const create = await fetch(stack.uploadUrl, { method: 'POST', headers: { ...tusUser, 'Upload-Length': String(data.length) } });
      const location = create.headers.get('location')!;
      const id = uploadIdOf(location);
      const [patch, remove] = await Promise.all([
        fetch(location, { method: 'PATCH', headers: { ...tusUser, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' }, body: data }),
        new Promise((resolve) => setTimeout(resolve, round * 3)).then(() => fetch(location, { method: 'DELETE', headers: tusUser })),
      ]);
      t.true([204, 404, 410, 423].includes(patch.status), `round ${round}: PATCH ${patch.status}`);
      t.true([204, 404, 410, 423].includes(remove.status), `round ${round}: DELETE ${remove.status}`);
      const registered = async () => (await filesSql.query('SELECT id FROM files.files WHERE upload_id = $1', [id])).rows;
      // Registration may still be on its way (the PATCH answers after it); wait for it to settle.
      await eventually(async () => (await registered()).length > 0, patch.status === 204 ? 3_000 : 300);
      if ((await registered()).length > 0) {
        t.is(sha256(await stack.readObject(id)), sha256(data), `round ${round}: the registered file has its bytes`);
      }
      if (remove.status === 204) {
        const head = await fetch(location, { method: 'HEAD', headers: tusUser });
        t.is(head.status, 410, `round ${round}: the terminated upload is gone`);
      }
    }
  });

  test.serial(`${mode}: a PATCH on a completed upload: 204 at its final offset with the file id, 409 elsewhere`, async (t) => {
    const stack = stackFor();
    const userId = randomUUID();
    const tusUser = { ...asUser(userId), 'Tus-Resumable': '1.0.0' };
    const data = randomBytes(7 * MiB);
    const done = await upload(stack, userId, data, { chunkSize: 5 * MiB });
    const patch = (offset: string, body: Uint8Array = new Uint8Array(0)) =>
      fetch(done.url, { method: 'PATCH', headers: { ...tusUser, 'Upload-Offset': offset, 'Content-Type': 'application/offset+octet-stream' }, body });
    for (const body of [new Uint8Array(0), randomBytes(10)]) {
      const again = await patch(String(data.length), body);
      t.is(again.status, 204, `at the final offset with ${body.length} bytes`);
      t.is(again.headers.get('upload-offset'), String(data.length));
      t.is(again.headers.get('GoVault-File-Id'), done.fileId ?? null);
    }
    const early = await patch('0', randomBytes(10));
    t.is(early.status, 409);
    t.is(early.headers.get('upload-offset'), String(data.length));
    t.is(sha256(await stack.readObject(uploadIdOf(done.url))), sha256(data), 'nothing written');
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

  test.serial(`${mode}: OPTIONS advertises exactly the extensions that work`, async (t) => {
    const stack = stackFor();
    const response = await fetch(stack.uploadUrl, { method: 'OPTIONS', headers: asUser(randomUUID()) });
    t.is(response.status, 200);
    t.is(response.headers.get('tus-version'), '1.0.0');
    t.deepEqual(response.headers.get('tus-extension')!.split(',').sort(), [
      'checksum', 'concatenation', 'creation', 'creation-defer-length', 'creation-with-upload', 'expiration', 'termination',
    ]);
    t.is(response.headers.get('tus-checksum-algorithm'), 'sha1,md5,sha256');
    t.is(response.headers.get('tus-max-size'), String(64 * MiB));
  });

  test.serial(`${mode}: chunks with Upload-Checksum are verified; a mismatch answers 460 and keeps the offset`, async (t) => {
    const stack = stackFor();
    const userId = randomUUID();
    const data = randomBytes(11 * MiB + 7);
    const chunkSize = 5 * MiB;
    // tus-js-client has no checksum option; its request hook adds the header per chunk.
    const done = await upload(stack, userId, data, {
      chunkSize,
      onBeforeRequest: (req) => {
        if (req.getMethod() !== 'PATCH') return;
        const offset = Number(req.getHeader('Upload-Offset'));
        const chunk = data.subarray(offset, offset + chunkSize);
        req.setHeader('Upload-Checksum', `sha256 ${createHash('sha256').update(chunk).digest('base64')}`);
      },
    });
    t.truthy(done.fileId);
    t.is(sha256(await stack.readObject((await sessionRow(uploadIdOf(done.url))).storage_key)), sha256(data));

    const user = { ...asUser(userId), 'Tus-Resumable': '1.0.0' };
    const create = await fetch(stack.uploadUrl, { method: 'POST', headers: { ...user, 'Upload-Length': '6' } });
    const location = create.headers.get('location')!;
    const patch = (body: string, checksum: string, offset = 0) =>
      fetch(location, {
        method: 'PATCH',
        headers: { ...user, 'Upload-Offset': String(offset), 'Content-Type': 'application/offset+octet-stream', 'Upload-Checksum': checksum },
        body,
      });
    const digest = (algorithm: string, body: string) => createHash(algorithm).update(body).digest('base64');
    const mismatch = await patch('abc', `md5 ${digest('md5', 'xyz')}`);
    t.is(mismatch.status, 460);
    t.is(mismatch.headers.get('tus-resumable'), '1.0.0');
    const head = await fetch(location, { method: 'HEAD', headers: user });
    t.is(head.headers.get('upload-offset'), '0', 'the offset did not move');
    t.is((await patch('abc', `crc32 ${digest('md5', 'abc')}`)).status, 400, 'an algorithm we do not offer');
    t.is((await patch('abc', 'sha1 not-base64!')).status, 400, 'a malformed checksum');
    t.is((await patch('abc', `sha256 ${Buffer.from('short').toString('base64')}`)).status, 460, 'a digest of the wrong length cannot match');
    t.is((await fetch(location, { method: 'HEAD', headers: user })).headers.get('upload-offset'), '0', 'still nothing written');
    const first = await patch('abc', `sha1 ${digest('sha1', 'abc')}`);
    t.is(first.status, 204);
    t.is(first.headers.get('upload-offset'), '3');
    const last = await patch('def', `md5 ${digest('md5', 'def')}`, 3);
    t.is(last.status, 204);
    t.truthy(last.headers.get('GoVault-File-Id'));
    t.is((await stack.readObject((await sessionRow(uploadIdOf(location))).storage_key)).toString(), 'abcdef');
  });

  test.serial(`${mode}: an upload interrupted three times resumes each time, is counted as resumed, and ends intact`, async (t) => {
    const stack = stackFor();
    const userId = randomUUID();
    const data = randomBytes(12 * MiB);
    const before = await metricValue(stack, 'govault_uploads_resumed_total', { mode: 'tus' });
    let url: string | undefined;
    for (let round = 0; round < 3; round++) {
      // Each round sends one more 2 MiB chunk, then the client goes away.
      url = await new Promise<string>((resolve, reject) => {
        const u = new tus.Upload(data, {
          endpoint: stack.uploadUrl,
          uploadUrl: url,
          headers: asUser(userId),
          chunkSize: 2 * MiB,
          retryDelays: [],
          metadata: { filename: 'interrupted.bin' },
          onChunkComplete: () => {
            void u.abort().then(() => resolve(u.url!));
          },
          onError: reject,
        });
        u.start();
      });
    }
    const row = await sessionRow(uploadIdOf(url!));
    t.is(Number(row.upload_offset), 6 * MiB, 'the database has what the store has');
    const done = await upload(stack, userId, data, { uploadUrl: url, chunkSize: 2 * MiB });
    t.truthy(done.fileId);
    t.is(sha256(await stack.readObject(row.storage_key)), sha256(data));
    t.is((await metricValue(stack, 'govault_uploads_resumed_total', { mode: 'tus' })) - before, 3, 'three resumes (the HEADs after each interruption)');
  });

  test.serial(`${mode}: protocol errors carry Tus-Resumable and the right status`, async (t) => {
    const stack = stackFor();
    const user = asUser(randomUUID());
    const tusUser = { ...user, 'Tus-Resumable': '1.0.0' };
    const wrongVersion = await fetch(stack.uploadUrl, { method: 'POST', headers: { ...user, 'Tus-Resumable': '0.2.2', 'Upload-Length': '1' } });
    t.is(wrongVersion.status, 412);
    t.is(wrongVersion.headers.get('tus-version'), '1.0.0');
    t.is(wrongVersion.headers.get('tus-resumable'), '1.0.0');
    const huge = await fetch(stack.uploadUrl, { method: 'POST', headers: { ...tusUser, 'Upload-Length': '99999999999999999999999' } });
    t.true([400, 413].includes(huge.status), `absurd length: ${huge.status}`);
    const metadata = `filename ${Buffer.from('x'.repeat(5000)).toString('base64')}`;
    const oversize = await fetch(stack.uploadUrl, { method: 'POST', headers: { ...tusUser, 'Upload-Length': '1', 'Upload-Metadata': metadata } });
    t.is(oversize.status, 413, 'oversize metadata');

    const create = await fetch(stack.uploadUrl, { method: 'POST', headers: { ...tusUser, 'Upload-Length': '4' } });
    const location = create.headers.get('location')!;
    const patch = (headers: Record<string, string>, body = 'ab') =>
      fetch(location, { method: 'PATCH', headers: { ...tusUser, 'Content-Type': 'application/offset+octet-stream', ...headers }, body });
    t.is((await patch({ 'Upload-Offset': '0' })).status, 204);
    const pastEnd = await patch({ 'Upload-Offset': '9' });
    t.is(pastEnd.status, 409, 'an offset that is not the current one');
    t.is(pastEnd.headers.get('upload-offset'), '2', 'the 409 says where the upload is');
    t.is((await patch({ 'Upload-Offset': '2' }, 'abcdef')).status, 413, 'a body past the declared length');
    t.is((await patch({ 'Upload-Offset': '2', 'Content-Type': 'text/plain' })).status, 415, 'wrong content type');
    t.is((await fetch(location, { method: 'PATCH', headers: { ...tusUser, 'Upload-Offset': '2' }, body: 'ab' })).status, 415, 'no content type');
    t.is((await patch({ 'Upload-Offset': '-1' })).status, 400, 'negative offset');
    t.is((await patch({})).status, 400, 'no offset');
    const headOpen = await fetch(location, { method: 'HEAD', headers: tusUser });
    const expires = Date.parse(headOpen.headers.get('upload-expires') ?? '');
    t.true(expires > Date.now(), `an unfinished upload's HEAD says when it expires: ${headOpen.headers.get('upload-expires')}`);
    const createdWithText = await fetch(stack.uploadUrl, { method: 'POST', headers: { ...tusUser, 'Upload-Length': '4', 'Content-Type': 'text/plain' }, body: 'abcd' });
    t.is(createdWithText.status, 415, 'a creation body that is not tus bytes');
    t.is(createdWithText.headers.get('location'), null, 'and nothing was created');
    const head = await fetch(location, { method: 'HEAD', headers: tusUser });
    t.is(head.headers.get('upload-offset'), '2', 'none of the bad requests moved the offset');
  });

  test.serial(`${mode}: expired incomplete uploads are swept: storage, parts and access go`, async (t) => {
    const stack = stackFor();
    const userId = randomUUID();
    const data = randomBytes(12 * MiB);
    const url = await new Promise<string>((resolve, reject) => {
      const u = new tus.Upload(data, {
        endpoint: stack.uploadUrl,
        headers: asUser(userId),
        chunkSize: 6 * MiB,
        retryDelays: [],
        onChunkComplete: () => void u.abort().then(() => resolve(u.url!)),
        onError: reject,
      });
      u.start();
    });
    const id = uploadIdOf(url);
    if (stack.s3) t.true(await multipartInFlight(stack, id), 'the multipart upload exists before the sweep');
    // Expiry counts from creation; make this upload old instead of waiting a day.
    await uploadSql.query("UPDATE upload.upload_sessions SET created_at = now() - interval '2 days' WHERE id = $1", [id]);
    await stack.upload.janitor.run('tus-expiry');
    t.is((await sessionRow(id)).state, 'expired');
    const head = await fetch(url, { method: 'HEAD', headers: { ...asUser(userId), 'Tus-Resumable': '1.0.0' } });
    t.is(head.status, 410);
    const { rows } = await uploadSql.query('SELECT count(*)::int AS n FROM upload.upload_parts WHERE upload_id = $1', [id]);
    t.is(rows[0].n, 0, 'no part rows left');
    if (stack.s3) t.false(await multipartInFlight(stack, id), 'the multipart upload was aborted');
    else t.false(existsSync(join(stack.storageDir!, id)), 'the partial file was removed');
  });
}

for (const mode of modes) {
  test.serial(`${mode}: finished partial uploads expire with their bytes; the final made of them keeps its file`, async (t) => {
    const stack = stacks.find((s) => s.mode === mode)!;
    const userId = randomUUID();
    const tusUser = { ...asUser(userId), 'Tus-Resumable': '1.0.0' };
    // 6 MiB then 1 KiB: on S3 the final copies both partials (every part but the last at least 5 MiB).
    const pieces = [randomBytes(6 * MiB), randomBytes(1024)];
    const partials: string[] = [];
    for (const piece of pieces) {
      const created = await fetch(stack.uploadUrl, {
        method: 'POST',
        headers: { ...tusUser, 'Upload-Concat': 'partial', 'Upload-Length': String(piece.length), 'Content-Type': 'application/offset+octet-stream' },
        body: piece,
      });
      t.is(created.status, 201);
      t.is(created.headers.get('govault-file-id'), null, 'a partial is not a file');
      partials.push(created.headers.get('location')!);
    }
    const joined = Buffer.concat(pieces);
    const declared = `sha256:${sha256(joined)}`;
    const final = await fetch(stack.uploadUrl, {
      method: 'POST',
      headers: {
        ...tusUser,
        'Upload-Concat': `final;${partials.join(' ')}`,
        'Upload-Metadata': `filename ${Buffer.from('joined.bin').toString('base64')},checksum ${Buffer.from(declared).toString('base64')}`,
      },
    });
    t.is(final.status, 201);
    const fileId = final.headers.get('govault-file-id')!;
    t.truthy(fileId, 'the final upload is a file');
    const { rows: files } = await filesSql.query('SELECT name, checksum FROM files.files WHERE id = $1', [fileId]);
    t.deepEqual(files[0], { name: 'joined.bin', checksum: declared }, "registered with the final's name and declared checksum");
    const finalId = uploadIdOf(final.headers.get('location')!);
    t.is(sha256(await stack.readObject(finalId)), sha256(joined), "the final's object holds the partials in order");
    t.is((await fileRow(fileId))?.size, String(joined.length));

    const tooLong = await fetch(stack.uploadUrl, { method: 'POST', headers: { ...tusUser, 'Upload-Concat': `final;${Array(11).fill(partials[0]).join(' ')}` } });
    t.is(tooLong.status, 413, 'a final over MAX_UPLOAD_SIZE (64 MiB here: 11 x 6 MiB)');
    const { rows: sessions } = await uploadSql.query('SELECT count(*)::int AS n FROM upload.upload_sessions WHERE owner_id = $1', [userId]);
    t.is(sessions[0].n, 3, 'the refused final created nothing');

    const ids = partials.map(uploadIdOf);
    await uploadSql.query("UPDATE upload.upload_sessions SET created_at = now() - interval '2 days' WHERE id = ANY($1)", [ids]);
    await stack.upload.janitor.run('tus-expiry');
    for (const [i, id] of ids.entries()) {
      t.is((await sessionRow(id)).state, 'expired', `partial ${i} expired`);
      t.is((await fetch(partials[i]!, { method: 'HEAD', headers: tusUser })).status, 410);
      await t.throwsAsync(stack.readObject(id), undefined, `partial ${i}'s bytes were removed`);
    }
    const again = await fetch(stack.uploadUrl, { method: 'POST', headers: { ...tusUser, 'Upload-Concat': `final;${partials.join(' ')}` } });
    t.is(again.status, 410, 'an expired partial cannot make another final');
    t.is(sha256(await stack.readObject(finalId)), sha256(joined), "the final's file is untouched");
    t.is((await sessionRow(finalId)).state, 'completed');
  });
}

for (const mode of modes) {
  test.serial(`${mode}: a final of 40 partials (more than the lock pool's connections) is joined in order`, async (t) => {
    const stack = stacks.find((s) => s.mode === mode)!;
    const tusUser = { ...asUser(randomUUID()), 'Tus-Resumable': '1.0.0' };
    const pieces = Array.from({ length: 40 }, (_, i) => Buffer.from(`piece ${i};`));
    const partials = await Promise.all(
      pieces.map(async (piece) => {
        const created = await fetch(stack.uploadUrl, {
          method: 'POST',
          headers: { ...tusUser, 'Upload-Concat': 'partial', 'Upload-Length': String(piece.length), 'Content-Type': 'application/offset+octet-stream' },
          body: piece,
        });
        return created.headers.get('location')!;
      }),
    );
    const final = await fetch(stack.uploadUrl, { method: 'POST', headers: { ...tusUser, 'Upload-Concat': `final;${partials.join(' ')}` }, signal: AbortSignal.timeout(30_000) });
    t.is(final.status, 201);
    t.is((await stack.readObject(uploadIdOf(final.headers.get('location')!))).toString(), Buffer.concat(pieces).toString());
  });
}

test.serial('disk: a finished upload answers HEAD with its file long after tus would have expired it; an unfinished one that old is 410', async (t) => {
  const stack = stacks.find((s) => s.mode === 'disk')!;
  const userId = randomUUID();
  const tusUser = { ...asUser(userId), 'Tus-Resumable': '1.0.0' };
  const data = randomBytes(5000);
  const done = await upload(stack, userId, data);
  const open = await fetch(stack.uploadUrl, { method: 'POST', headers: { ...tusUser, 'Upload-Length': '10' } });
  const openUrl = open.headers.get('location')!;
  // Both were created two days ago, as their stored info says (expiry counts from there).
  const { readFile, writeFile } = await import('node:fs/promises');
  for (const url of [done.url, openUrl]) {
    const infoPath = join(stack.storageDir!, `${uploadIdOf(url)}.json`);
    const info = JSON.parse(await readFile(infoPath, 'utf8'));
    await writeFile(infoPath, JSON.stringify({ ...info, creation_date: new Date(Date.now() - 2 * 86_400_000).toISOString() }));
  }
  const head = await fetch(done.url, { method: 'HEAD', headers: tusUser });
  t.is(head.status, 200, 'Uppy resumes a finished file with a HEAD alone: a 410 would make it upload the file again');
  t.is(head.headers.get('upload-offset'), String(data.length));
  t.is(head.headers.get('upload-length'), String(data.length));
  t.is(head.headers.get('GoVault-File-Id'), done.fileId ?? null);
  t.is(head.headers.get('cache-control'), 'no-store');
  t.is(head.headers.get('upload-expires'), null, 'a finished upload does not expire');
  t.is(head.headers.get('upload-metadata'), `filename ${Buffer.from('report.pdf').toString('base64')},filetype ${Buffer.from('application/pdf').toString('base64')}`);
  t.is((await fetch(openUrl, { method: 'HEAD', headers: tusUser })).status, 410, 'an unfinished upload that old has expired');
});

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
  // What the owner sees: the file in their list, once, and every later HEAD naming the same file.
  const asOwner = { 'x-internal-token': gateway.issue('files', { userId }), 'x-user-id': userId };
  const listing = (await (await fetch(`http://127.0.0.1:${stack.filesPort}/api/files?view=owned`, { headers: asOwner })).json()) as {
    items: Array<{ id: string; name: string; size: number }>;
  };
  t.deepEqual(listing.items.map(({ id, name, size }) => ({ id, name, size })), [{ id: fileId!, name: 'report.pdf', size: 1000 }]);
  const again = await fetch(done.url, { method: 'HEAD', headers: { ...asUser(userId), 'Tus-Resumable': '1.0.0' } });
  t.is(again.headers.get('GoVault-File-Id'), fileId, 'a second HEAD names the same file');
});

if (realS3) {
  // 7 MiB chunks make a part of each PATCH; one PATCH of the whole file is cut at the
  // store's 8 MiB part size, a part boundary inside the body.
  for (const [label, chunkSize, sizes] of [
    ['7 MiB chunks', 7 * MiB, [7 * MiB, 7 * MiB, 6 * MiB + 5]],
    ['one PATCH', undefined, [8 * MiB, 8 * MiB, 4 * MiB + 5]],
  ] as const) test.serial(`s3, ${label}: the parts recorded in the database compose the stored object (its multipart ETag)`, async (t) => {
    const stack = stacks.find((s) => s.mode === 's3')!;
    const data = randomBytes(20 * MiB + 5);
    const done = await upload(stack, randomUUID(), data, chunkSize ? { chunkSize } : {});
    const id = uploadIdOf(done.url);
    const { rows } = await uploadSql.query<{ part_number: number; size: string; etag: string }>(
      'SELECT part_number, size, etag FROM upload.upload_parts WHERE upload_id = $1 ORDER BY part_number',
      [id],
    );
    t.deepEqual(rows.map((r) => r.part_number), rows.map((_, i) => i + 1), 'parts numbered 1..n without gaps');
    t.deepEqual(rows.map((r) => Number(r.size)), [...sizes], 'parts cut where the store cuts them');
    const head = await stack.s3!.send(new HeadObjectCommand({ Bucket: realS3!.bucket, Key: id }));
    t.is(head.ETag!.replaceAll('"', ''), multipartEtag(rows.map((r) => r.etag)), 'the object is exactly these parts');
    t.is(sha256(await stack.readObject(id)), sha256(data), 'and has the same bytes');
  });

  /** Requests the upload service has sent to S3 so far, by operation (its own metrics, as Prometheus reads them). */
  const s3Requests = async (stack: Stack): Promise<Map<string, number>> => {
    const counts = new Map<string, number>();
    for (const [, operation, n] of (await (await fetch(`${stack.uploadBase}/metrics`)).text()).matchAll(/^govault_s3_request_duration_seconds_count\{[^}]*\boperation="(\w+)"[^}]*\} (\d+)$/gm)) {
      counts.set(operation!, (counts.get(operation!) ?? 0) + Number(n));
    }
    return counts;
  };
  const tusOperations = ['CreateMultipartUpload', 'PutObject', 'GetObject', 'HeadObject', 'ListParts', 'UploadPart', 'CompleteMultipartUpload', 'DeleteObject'];

  test.serial('s3: a small upload asks S3 once per request for what it holds: no info read back, no second ListParts, no look for an incomplete part known absent', async (t) => {
    const stack = stacks.find((s) => s.mode === 's3')!;
    const data = randomBytes(64 * 1024);
    const before = await s3Requests(stack);
    const done = await upload(stack, randomUUID(), data);
    const after = await s3Requests(stack);
    const sent = Object.fromEntries(tusOperations.map((op) => [op, (after.get(op) ?? 0) - (before.get(op) ?? 0)]));
    t.deepEqual(sent, {
      // POST: the multipart upload and its `.info`; then (tus's Upload-Expires check, after the lock) one look at it.
      CreateMultipartUpload: 1,
      // `.info` at creation, and again tagged complete.
      PutObject: 2,
      GetObject: 0,
      // The POST's look and the PATCH's first look, each at the parts and at the incomplete part.
      ListParts: 2,
      HeadObject: 2,
      UploadPart: 1,
      CompleteMultipartUpload: 1,
      DeleteObject: 0,
    });
    t.is(sha256(await stack.readObject(uploadIdOf(done.url))), sha256(data), 'and the object has the bytes');
  });
}

test.serial('uploads that finish while the files service is down are registered by the outbox worker, each once', async (t) => {
  const stack = stacks.find((s) => s.mode === 'disk')!;
  const userId = randomUUID();
  await stack.files.close();
  stack.files.server.closeAllConnections();
  const finished = await Promise.all([1, 2, 3].map(() => upload(stack, userId, randomBytes(2000))));
  t.deepEqual(finished.map((f) => f.fileId), [undefined, undefined, undefined], 'no file ids while files is away');
  const ids = finished.map((f) => uploadIdOf(f.url));
  const { rows: queued } = await uploadSql.query('SELECT count(*)::int AS n FROM upload.registration_outbox WHERE upload_id = ANY($1)', [ids]);
  t.is(queued[0].n, 3, 'all three wait in the outbox');

  const revived = createServer(stack.filesApp.callback());
  await new Promise<void>((resolve) => revived.listen(stack.filesPort, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => revived.close(() => resolve())));
  // No client request: the worker alone retries, behind the circuit breaker (open for 5 s).
  const registered = async () => {
    const { rows } = await filesSql.query('SELECT upload_id, count(*)::int AS n FROM files.files WHERE upload_id = ANY($1) GROUP BY upload_id', [ids]);
    return rows as Array<{ upload_id: string; n: number }>;
  };
  t.true(await eventually(async () => (await registered()).length === 3, 30_000), 'every file registered after files returns');
  await stack.upload.janitor.run('registration-outbox');
  t.deepEqual((await registered()).map((r) => r.n), [1, 1, 1], 'each exactly once');
  // The worker deletes an entry just after its registration commits: wait for that step too.
  const outboxLeft = async () =>
    (await uploadSql.query('SELECT count(*)::int AS n FROM upload.registration_outbox WHERE upload_id = ANY($1)', [ids])).rows[0].n as number;
  t.true(await eventually(async () => (await outboxLeft()) === 0, 10_000), 'the outbox is empty again');
  for (const id of ids) t.truthy((await sessionRow(id)).file_id);
});
