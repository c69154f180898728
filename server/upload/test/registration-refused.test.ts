import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import pg from 'pg';
import { createLogger, listen, parseConfig } from '@govault/lib';
import { openTestBucket, readTestObject, testDatabases, testS3, testServiceKeys, type TestDatabase } from '@govault/lib/testing';
import { buildUploadApp, uploadConfigSchema, type UploadApp } from '../src/index.ts';

/**
 * What the outbox does when the files service refuses a registration. The upload service
 * is real (HTTP, database, disk or S3); in front of it stands a stand-in of the files
 * service that answers what each test tells it to, since the real one refuses nothing a
 * clean upload sends it. Everything above that one call is the real thing.
 */
const keys = testServiceKeys();
const gateway = keys.issuerFor('gateway');
const logger = createLogger('test', 'silent');
const MiB = 1024 * 1024;
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

interface FilesAnswer {
  status: number;
  body: unknown;
}

/** The stand-in: answers POST /internal/files with `answer`, counting the calls. */
class StandInFiles {
  answer: FilesAnswer = { status: 201, body: {} };
  calls = 0;
  readonly server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/internal/files' && req.method === 'POST') this.calls++;
      res.writeHead(this.answer.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(this.answer.body));
    });
  });

  refuse(status: number, code: string, message: string): void {
    this.answer = { status, body: { error: { code, message, requestId: 'stand-in' } } };
  }

  accept(): void {
    this.answer = { status: 201, body: { id: randomUUID() } };
  }
}

type Mode = 'disk' | 's3';
interface Stack {
  mode: Mode;
  base: string;
  app: UploadApp;
  readObject(key: string): Promise<Buffer>;
}

const realS3 = testS3();
const modes: Mode[] = realS3 ? ['disk', 's3'] : ['disk'];
const files = new StandInFiles();
const stacks = new Map<Mode, Stack>();
const closers: Array<() => Promise<unknown>> = [];
let database: TestDatabase;
let uploadSql: pg.Pool;

test.before(async () => {
  database = (await testDatabases(['upload'])).upload;
  await new Promise<void>((resolve) => files.server.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise((resolve) => files.server.close(resolve)));
  const filesUrl = `http://127.0.0.1:${(files.server.address() as AddressInfo).port}`;
  const start = async (mode: Mode, env: Record<string, string>, readObject: Stack['readObject']) => {
    const app = await buildUploadApp(
      parseConfig(uploadConfigSchema, {
        UPLOAD_DATABASE_URL: database.url,
        INTERNAL_KEY_DIR: keys.dir,
        FILES_URL: filesUrl,
        MAX_UPLOAD_SIZE: String(64 * MiB),
        REGISTRATION_MAX_BACKOFF_SECONDS: '1',
        ...env,
      }),
      logger,
    );
    const server = await listen(app.app, '127.0.0.1', 0);
    closers.push(() => server.close(), app.close);
    stacks.set(mode, { mode, base: `http://127.0.0.1:${server.port}`, app, readObject });
  };
  const dataDir = mkdtempSync(join(tmpdir(), 'govault-refused-'));
  const storageDir = join(dataDir, 'objects');
  await start('disk', { DATA_DIR: dataDir, STORAGE_DIR: storageDir }, (key) => readFile(join(storageDir, key)));
  if (realS3) {
    const client = await openTestBucket(realS3);
    closers.push(async () => client.destroy());
    await start('s3', { DATA_DIR: dataDir, ...realS3.env }, (key) => readTestObject(client, realS3.bucket, key));
  }
  uploadSql = new pg.Pool({ connectionString: database.url, max: 2 });
});

test.after.always(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  await uploadSql?.end();
  await database?.stop();
});

const asUser = (userId: string) => ({ 'x-internal-token': gateway.issue('upload', { userId }), 'x-user-id': userId });

/** A one-PATCH tus upload; answers the completing PATCH. */
async function tusUpload(stack: Stack, userId: string, data: Buffer) {
  const tus = { ...asUser(userId), 'Tus-Resumable': '1.0.0' };
  const created = await fetch(`${stack.base}/api/uploads/tus`, {
    method: 'POST',
    headers: { ...tus, 'Upload-Length': String(data.length), 'Upload-Metadata': `filename ${Buffer.from('refused.bin').toString('base64')}` },
  });
  if (created.status !== 201) throw new Error(`POST answered ${created.status}`);
  const url = created.headers.get('location')!;
  const patch = await fetch(url, {
    method: 'PATCH',
    headers: { ...tus, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
    body: data,
  });
  return { url, id: url.split('/').pop()!, patch, head: () => fetch(url, { method: 'HEAD', headers: tus }) };
}

/** One series of the upload service's /metrics; `labels` as written there, without the service label. */
async function metric(stack: Stack, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${stack.base}/metrics`)).text();
  const series = `${name}{${labels ? `${labels},` : ''}service="upload"} `;
  const found = text.split('\n').find((l) => l.startsWith(series));
  return found ? Number(found.split(' ').pop()) : 0;
}

async function listUploads(stack: Stack, userId: string, state: string) {
  const response = await fetch(`${stack.base}/api/uploads?state=${state}`, { headers: asUser(userId) });
  return { status: response.status, body: (await response.json()) as { items: Array<Record<string, any>> } };
}

async function outboxRow(id: string) {
  const { rows } = await uploadSql.query('SELECT * FROM upload.registration_outbox WHERE upload_id = $1', [id]);
  return rows[0] as { attempts: number; failed_at: Date | null; failure_code: string | null; last_error: string | null } | undefined;
}

for (const mode of modes) {
  const stackFor = () => stacks.get(mode)!;

  test.serial(`${mode}: a tus upload whose registration files refuses (400) is marked failed, shown to its owner, kept, and not retried`, async (t) => {
    const stack = stackFor();
    const userId = randomUUID();
    const data = randomBytes(200 * 1024);
    files.refuse(400, 'validation_failed', 'name: must not contain control characters');
    const failuresBefore = await metric(stack, 'govault_registration_failures_total', 'reason="validation_failed"');
    const callsBefore = files.calls;

    const upload = await tusUpload(stack, userId, data);
    t.is(upload.patch.status, 204, 'the bytes were accepted: the upload is complete');
    t.is(upload.patch.headers.get('GoVault-File-Id'), null);
    t.is(upload.patch.headers.get('GoVault-Registration-Error'), 'validation_failed: name: must not contain control characters');
    const head = await upload.head();
    t.is(head.status, 200);
    t.is(head.headers.get('GoVault-File-Id'), null);
    t.regex(head.headers.get('GoVault-Registration-Error') ?? '', /^validation_failed: /, 'the HEAD says why there is no file');

    t.like(await outboxRow(upload.id), { failure_code: 'validation_failed', last_error: 'name: must not contain control characters' });
    t.truthy((await outboxRow(upload.id))!.failed_at);
    await stack.app.janitor.run('registration-outbox');
    await stack.app.janitor.run('registration-outbox');
    t.is(files.calls - callsBefore, 1, 'one attempt: neither the HEAD nor the worker asked files again');

    t.is((await metric(stack, 'govault_registration_failures_total', 'reason="validation_failed"')) - failuresBefore, 1);
    t.true((await metric(stack, 'govault_registration_failed')) >= 1);
    const { rows } = await uploadSql.query('SELECT count(*)::int AS n FROM upload.registration_outbox WHERE failed_at IS NULL');
    t.is(await metric(stack, 'govault_registration_outbox_backlog'), rows[0].n, 'the backlog counts pending entries only');
    t.false((await uploadSql.query('SELECT 1 FROM upload.registration_outbox WHERE upload_id = $1 AND failed_at IS NULL', [upload.id])).rowCount! > 0);

    const failed = await listUploads(stack, userId, 'failed');
    t.is(failed.status, 200);
    t.like(failed.body.items, [
      { id: upload.id, mode: 'tus', name: 'refused.bin', size: data.length, offset: data.length, state: 'failed', error: { code: 'validation_failed', message: 'name: must not contain control characters' } },
    ]);
    t.deepEqual((await listUploads(stack, userId, 'incomplete')).body.items, [], 'a complete upload is not unfinished');
    t.is(sha256(await stack.readObject(upload.id)), sha256(data), 'the bytes are kept for an operator');
  });

  test.serial(`${mode}: a direct multipart complete whose registration files refuses answers a 4xx JSON error, every time`, async (t) => {
    const stack = stackFor();
    const userId = randomUUID();
    files.refuse(409, 'conflict', 'This upload is already registered as another file');
    const call = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${stack.base}/api/uploads/s3/multipart${path}`, {
        method,
        headers: { ...asUser(userId), ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      return { status: response.status, body: (await response.json()) as any };
    };
    const created = await call('POST', '', { filename: 'direct.bin', type: 'application/octet-stream', metadata: {} });
    t.is(created.status, 200);
    const { uploadId, key } = created.body as { uploadId: string; key: string };
    const data = randomBytes(100 * 1024);
    const { url } = (await call('GET', `/${uploadId}/1?key=${key}`)).body as { url: string };
    // Embedded part URLs lead to the upload service, which (behind the gateway) takes an internal token.
    const put = await fetch(url, { method: 'PUT', body: data, headers: mode === 'disk' ? { 'x-internal-token': gateway.issue('upload') } : {} });
    t.is(put.status, 200);
    const parts = [{ PartNumber: 1, ETag: put.headers.get('etag')!.replaceAll('"', '') }];

    const callsBefore = files.calls;
    for (const attempt of ['first', 'repeated']) {
      const done = await call('POST', `/${uploadId}/complete?key=${key}`, { parts });
      t.is(done.status, 409, `${attempt} complete`);
      t.is(done.body.error.code, 'conflict');
      t.regex(done.body.error.message, /refused/);
      t.like(done.body.error.details, { registration: { state: 'failed', code: 'conflict' } });
      t.is(done.body.fileId, undefined);
    }
    t.is(files.calls - callsBefore, 1, 'the repeat did not ask files again');
    t.like((await listUploads(stack, userId, 'failed')).body.items, [{ id: uploadId, mode: 'direct', state: 'failed', error: { code: 'conflict' } }]);
    t.is(sha256(await stack.readObject(key)), sha256(data), 'the object is kept');
  });

  test.serial(`${mode}: a files service that is away (503) or asks to slow down (429) is retried, not marked failed`, async (t) => {
    const stack = stackFor();
    const userId = randomUUID();
    for (const [status, code] of [[503, 'upstream_unavailable'], [429, 'rate_limited']] as const) {
      files.refuse(status, code, 'later');
      const upload = await tusUpload(stack, userId, randomBytes(1000));
      t.is(upload.patch.status, 204);
      t.is(upload.patch.headers.get('GoVault-Registration-Error'), null, `${status}: no refusal to report`);
      const row = await outboxRow(upload.id);
      t.is(row?.failed_at, null, `${status}: still pending`);

      files.accept();
      await uploadSql.query('UPDATE upload.registration_outbox SET next_attempt_at = now() WHERE upload_id = $1', [upload.id]);
      // The 503s opened the circuit breaker for a few seconds; the worker's next rounds get through.
      const deadline = Date.now() + 30_000;
      while ((await outboxRow(upload.id)) && Date.now() < deadline) {
        await stack.app.janitor.run('registration-outbox');
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      t.is(await outboxRow(upload.id), undefined, `${status}: registered once files accepted`);
      const head = await upload.head();
      t.truthy(head.headers.get('GoVault-File-Id'));
    }
  });
}

test.serial('GET /api/uploads refuses a state it does not know', async (t) => {
  const stack = stacks.get('disk')!;
  for (const state of ['garbage', 'INCOMPLETE', '', 'failed,incomplete']) {
    const response = await fetch(`${stack.base}/api/uploads?state=${encodeURIComponent(state)}`, { headers: asUser(randomUUID()) });
    t.is(response.status, 400, `state=${state}`);
    t.is(((await response.json()) as { error: { code: string } }).error.code, 'validation_failed');
  }
  const twice = await fetch(`${stack.base}/api/uploads?state=failed&state=incomplete`, { headers: asUser(randomUUID()) });
  t.is(twice.status, 400);
});
