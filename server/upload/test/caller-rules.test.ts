import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import jwt from 'jsonwebtoken';
import { freePort, readPrivateKey } from '@govault/lib';
import { ServiceProcess, testDatabase, testS3, testServiceKeys, type TestDatabase } from '@govault/lib/testing';

/**
 * Upload's own caller rules (README, "Trust between services"), against the real upload
 * process and tokens signed with the real service keys: its user routes (tus, Companion's
 * multipart routes, the unfinished-upload list) accept only the gateway, and a request
 * whose X-User-Id is not the internal token's user is refused. Each refusal is 401
 * `unauthenticated` and changes nothing; the same request from the gateway is answered.
 * Real PostgreSQL and S3 when configured, else embedded PGlite and disk.
 */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const keys = testServiceKeys();
const issuers = Object.fromEntries((['gateway', 'files', 'auth', 'upload'] as const).map((s) => [s, keys.issuerFor(s)]));
const s3 = testS3();

let db: TestDatabase;
let upload: ServiceProcess;
const dataDir = mkdtempSync(join(tmpdir(), 'govault-caller-rules-'));

test.before(async () => {
  db = await testDatabase('upload');
  const port = await freePort();
  upload = new ServiceProcess('upload', port, join(ROOT, 'server/upload/src/main.ts'), {
    ...process.env,
    UPLOAD_PORT: String(port),
    HOST: '127.0.0.1',
    UPLOAD_DATABASE_URL: db.url,
    INTERNAL_KEY_DIR: keys.dir,
    DATA_DIR: dataDir,
    // Nothing listens there: a completed upload waits in the outbox, which is all these tests need.
    FILES_URL: `http://127.0.0.1:${await freePort()}`,
    LOG_LEVEL: 'error',
    ...(s3 ? s3.env : { S3_ENDPOINT: '', S3_BUCKET: '', S3_ACCESS_KEY_ID: '', S3_SECRET_ACCESS_KEY: '' }),
  }, '/readyz', ROOT, 'upload');
  await upload.start();
});

test.after.always(async () => {
  await upload?.kill('SIGTERM');
  await db?.stop();
  for (const dir of [dataDir, keys.dir]) rmSync(dir, { recursive: true, force: true });
});

/** Who signs a request: a real service key for `upload`, acting for `userId` (or for nobody). */
type Signer = { name: string; token(userId: string | undefined): string };
const signedBy = (service: keyof typeof issuers): Signer => ({
  name: `a token signed as "${service}"`,
  token: (userId) => issuers[service]!.issue('upload', userId ? { userId } : {}),
});
const gateway = signedBy('gateway');
const forged: Signer = {
  name: 'a token signed with the files key that claims to be the gateway',
  token: (userId) =>
    jwt.sign(userId ? { uid: userId } : {}, readPrivateKey(keys.dir, 'files'), {
      algorithm: 'ES256', keyid: 'gateway', subject: 'gateway', audience: 'upload', issuer: 'govault-internal', expiresIn: 60,
    }),
};
const wrongAudience: Signer = {
  name: 'a gateway token addressed to files',
  token: (userId) => issuers.gateway!.issue('files', userId ? { userId } : {}),
};
const refusedSigners = [signedBy('files'), signedBy('auth'), signedBy('upload'), forged, wrongAudience];

interface Call {
  name: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

async function send(call: Call, token: string, userHeader: string | undefined): Promise<{ status: number; code?: string; body?: any; response: Response }> {
  const headers: Record<string, string> = { 'x-internal-token': token, ...call.headers };
  if (userHeader !== undefined) headers['x-user-id'] = userHeader;
  const response = await fetch(`${upload.url}${call.path}`, { method: call.method, headers, body: call.body });
  const text = call.method === 'HEAD' ? '' : await response.text();
  const body = text.startsWith('{') || text.startsWith('[') ? JSON.parse(text) : undefined;
  return { status: response.status, code: body?.error?.code, body, response };
}

const asGateway = (call: Call, userId: string) => send(call, gateway.token(userId), userId);
const tus = { 'tus-resumable': '1.0.0' };

interface Fixture {
  userId: string;
  tusId: string;
  /** Multipart uploads: one to complete, one to abort; each with one stored part. */
  toComplete: { uploadId: string; key: string; etag: string };
  toAbort: { uploadId: string; key: string };
}

/** A user's tus upload with 3 bytes and two direct uploads, made as the gateway makes them. */
async function fixture(): Promise<Fixture> {
  const userId = randomUUID();
  const created = await asGateway({ name: '', method: 'POST', path: '/api/uploads/tus', headers: { ...tus, 'upload-length': '10' } }, userId);
  if (created.status !== 201) throw new Error(`tus creation answered ${created.status}`);
  const tusId = created.response.headers.get('location')!.split('/').pop()!;
  const patched = await asGateway(
    { name: '', method: 'PATCH', path: `/api/uploads/tus/${tusId}`, headers: { ...tus, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' }, body: 'abc' },
    userId,
  );
  if (patched.status !== 204) throw new Error(`PATCH answered ${patched.status}`);
  const direct = async () => {
    const answer = await asGateway(
      { name: '', method: 'POST', path: '/api/uploads/s3/multipart', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ filename: 'direct.bin', type: 'application/octet-stream', metadata: {} }) },
      userId,
    );
    if (answer.status !== 200) throw new Error(`multipart create answered ${answer.status}`);
    return answer.body as { uploadId: string; key: string };
  };
  const toComplete = await direct();
  const toAbort = await direct();
  const signed = await asGateway({ name: '', method: 'GET', path: `/api/uploads/s3/multipart/${toComplete.uploadId}/1?key=${toComplete.key}` }, userId);
  const { url } = signed.body as { url: string };
  // Embedded part URLs point back at the service, which takes every request only from the gateway.
  const put = await fetch(url, { method: 'PUT', body: 'direct bytes', headers: s3 ? {} : { 'x-internal-token': gateway.token(undefined) } });
  if (put.status !== 200) throw new Error(`part PUT answered ${put.status}`);
  return { userId, tusId, toComplete: { ...toComplete, etag: put.headers.get('etag')! }, toAbort };
}

/** Every user route of the upload service, as a request that would succeed from the gateway. */
function userRoutes(f: Fixture): Call[] {
  const mp = '/api/uploads/s3/multipart';
  const json = { 'content-type': 'application/json' };
  return [
    { name: 'tus OPTIONS', method: 'OPTIONS', path: '/api/uploads/tus', headers: tus },
    { name: 'tus POST', method: 'POST', path: '/api/uploads/tus', headers: { ...tus, 'upload-length': '5' } },
    { name: 'tus HEAD', method: 'HEAD', path: `/api/uploads/tus/${f.tusId}`, headers: tus },
    { name: 'tus PATCH', method: 'PATCH', path: `/api/uploads/tus/${f.tusId}`, headers: { ...tus, 'content-type': 'application/offset+octet-stream', 'upload-offset': '3' }, body: 'def' },
    { name: 'unfinished uploads', method: 'GET', path: '/api/uploads?state=incomplete' },
    { name: 'refused uploads', method: 'GET', path: '/api/uploads?state=failed' },
    { name: 'multipart create', method: 'POST', path: mp, headers: json, body: JSON.stringify({ filename: 'more.bin', type: 'application/octet-stream', metadata: {} }) },
    { name: 'multipart sign part', method: 'GET', path: `${mp}/${f.toComplete.uploadId}/2?key=${f.toComplete.key}` },
    { name: 'multipart sign batch', method: 'GET', path: `${mp}/${f.toComplete.uploadId}/batch?key=${f.toComplete.key}&partNumbers=2,3` },
    { name: 'multipart list parts', method: 'GET', path: `${mp}/${f.toComplete.uploadId}?key=${f.toComplete.key}` },
    {
      name: 'multipart complete',
      method: 'POST',
      path: `${mp}/${f.toComplete.uploadId}/complete?key=${f.toComplete.key}`,
      headers: json,
      body: JSON.stringify({ parts: [{ PartNumber: 1, ETag: f.toComplete.etag }] }),
    },
    { name: 'multipart abort', method: 'DELETE', path: `${mp}/${f.toAbort.uploadId}?key=${f.toAbort.key}` },
    { name: 'tus DELETE', method: 'DELETE', path: `/api/uploads/tus/${f.tusId}`, headers: tus },
  ];
}

/** What a refused request must not have changed: the user's unfinished uploads, and the tus offset. */
async function snapshot(f: Fixture): Promise<{ unfinished: string[]; offset: string | null }> {
  const list = await asGateway({ name: '', method: 'GET', path: '/api/uploads?state=incomplete' }, f.userId);
  const { items } = list.body as { items: Array<{ id: string }> };
  const head = await asGateway({ name: '', method: 'HEAD', path: `/api/uploads/tus/${f.tusId}`, headers: tus }, f.userId);
  return { unfinished: items.map((i) => i.id).sort(), offset: head.response.headers.get('upload-offset') };
}

/** Sends every route refused, checks each 401 and that nothing changed; then the gateway's own requests pass. */
async function refusedThenAnswered(t: import('ava').ExecutionContext, refuse: (call: Call, f: Fixture) => Promise<{ status: number; code?: string }>, what: string) {
  const f = await fixture();
  const before = await snapshot(f);
  t.is(before.unfinished.length, 3, 'the fixture: one tus and two direct uploads in flight');
  t.is(before.offset, '3');
  for (const call of userRoutes(f)) {
    const answer = await refuse(call, f);
    t.is(answer.status, 401, `${call.name}, ${what}`);
    if (call.method !== 'HEAD') t.is(answer.code, 'unauthenticated', `${call.name}, ${what}: the JSON error code`);
  }
  t.deepEqual(await snapshot(f), before, `${what}: no upload was created, written, completed, aborted or terminated`);

  // The same requests from the gateway, for the user: the routes are there and answer.
  const expected: Record<string, number> = { 'tus OPTIONS': 200, 'tus POST': 201, 'tus HEAD': 200, 'tus PATCH': 204, 'tus DELETE': 204 };
  for (const call of userRoutes(f)) {
    t.is((await asGateway(call, f.userId)).status, expected[call.name] ?? 200, `${call.name} from the gateway`);
  }
}

test('each user route refuses an internal token from another service (401), and such a request changes nothing', async (t) => {
  for (const signer of refusedSigners) {
    await refusedThenAnswered(t, (call, f) => send(call, signer.token(f.userId), f.userId), signer.name);
  }
});

test('each user route refuses a gateway token whose user is not the X-User-Id (401)', async (t) => {
  await refusedThenAnswered(t, (call, f) => send(call, gateway.token(f.userId), randomUUID()), 'X-User-Id of another user');
  await refusedThenAnswered(t, (call, f) => send(call, gateway.token(randomUUID()), f.userId), 'the token of another user');
  await refusedThenAnswered(t, (call, f) => send(call, gateway.token(undefined), f.userId), 'a token with no user beside X-User-Id');
});
