import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3';
import test from 'ava';
import * as tus from 'tus-js-client';
import { getJson, registerAndLogin, type TestUser } from './client.ts';
import { availableModes, systemPerMode, type RunningSystem } from './system.ts';

/**
 * The upload attacks of issue 11 against GoVault as `npm start` runs it, through the
 * gateway: terminating a finished upload, names the files service would refuse, and
 * malformed input on every upload route (a 4xx each, never a 5xx, nothing created).
 */
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
const b64 = (value: string) => Buffer.from(value, 'utf8').toString('base64');

const { systemFor, stopAll } = systemPerMode();
test.after.always(stopAll);

function tusUpload(system: RunningSystem, user: TestUser, data: Buffer, filename: string) {
  let fileId: string | undefined;
  return new Promise<{ url: string; fileId: string | undefined }>((resolve, reject) => {
    const upload = new tus.Upload(data, {
      endpoint: `${system.baseUrl}/api/uploads/tus`,
      headers: user.auth,
      retryDelays: [],
      metadata: { filename, filetype: 'application/pdf' },
      onAfterResponse: (_req, res) => {
        fileId = res.getHeader('GoVault-File-Id') ?? fileId;
      },
      onSuccess: () => resolve({ url: upload.url!, fileId }),
      onError: reject,
    });
    upload.start();
  });
}

function companion(system: RunningSystem, user: TestUser) {
  return async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${system.baseUrl}/api/uploads/s3/multipart${path}`, {
      method,
      headers: { ...user.auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json().catch(() => undefined)) as any };
  };
}

/** A whole direct upload of `data` in one part; answers `complete`'s answer. */
async function directUpload(system: RunningSystem, user: TestUser, data: Buffer, create: Record<string, unknown>) {
  const call = companion(system, user);
  const created = await call('POST', '', create);
  if (created.status !== 200) return created;
  const { uploadId, key } = created.body as { uploadId: string; key: string };
  const { url } = (await call('GET', `/${uploadId}/1?key=${key}`)).body as { url: string };
  const put = await fetch(url, { method: 'PUT', body: data });
  return call('POST', `/${uploadId}/complete?key=${key}`, { parts: [{ PartNumber: 1, ETag: put.headers.get('etag')!.replaceAll('"', '') }] });
}

async function ownedFiles(system: RunningSystem, user: TestUser) {
  return (await getJson<{ items: Array<{ id: string; name: string; size: number }> }>(`${system.baseUrl}/api/files?view=owned`, user.auth)).body.items;
}

/** What the user's uploads and (real mode) the bucket hold in flight: "nothing created" compares two of these. */
async function inFlight(system: RunningSystem, user: TestUser): Promise<{ sessions: number; s3: number }> {
  const listed = await getJson<{ items: unknown[] }>(`${system.baseUrl}/api/uploads?state=incomplete`, user.auth);
  if (listed.status !== 200) throw new Error(`GET /api/uploads answered ${listed.status}`);
  let s3 = 0;
  if (system.mode === 'real') {
    const client = new S3Client({
      endpoint: process.env.S3_ENDPOINT,
      region: process.env.S3_REGION ?? 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: process.env.S3_ACCESS_KEY_ID!, secretAccessKey: process.env.S3_SECRET_ACCESS_KEY! },
    });
    s3 = (await client.send(new ListMultipartUploadsCommand({ Bucket: process.env.S3_BUCKET! }))).Uploads?.length ?? 0;
    client.destroy();
  }
  return { sessions: listed.body.items.length, s3 };
}

/** A raw request, so that a header can be sent twice. */
function rawRequest(url: string, method: string, headers: Record<string, string | string[]>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', reject);
    req.end();
  });
}

for (const mode of availableModes()) {
  test.serial(`${mode}: terminating a completed tus upload answers 204, forgets the upload and keeps the file downloadable`, async (t) => {
    const system = await systemFor(mode);
    const user = await registerAndLogin(system.baseUrl);
    const data = randomBytes(256 * 1024 + 3);
    const done = await tusUpload(system, user, data, `kept ${mode}.bin`);
    t.truthy(done.fileId);

    const tusHeaders = { ...user.auth, 'Tus-Resumable': '1.0.0' };
    t.is((await fetch(done.url, { method: 'DELETE', headers: tusHeaders })).status, 204);
    const head = await fetch(done.url, { method: 'HEAD', headers: tusHeaders });
    t.true([404, 410].includes(head.status), `HEAD after termination: ${head.status}`);

    t.like((await ownedFiles(system, user)).find((f) => f.id === done.fileId), { name: `kept ${mode}.bin`, size: data.length });
    const download = await fetch(`${system.baseUrl}/api/files/${done.fileId}/content`, { headers: user.auth });
    t.is(download.status, 200);
    t.is(sha256(new Uint8Array(await download.arrayBuffer())), sha256(data), 'the file still has every byte');
  });

  test.serial(`${mode}: names with C1 and bidirectional controls become files with the cleaned name, by tus and by direct upload`, async (t) => {
    const system = await systemFor(mode);
    const user = await registerAndLogin(system.baseUrl);
    for (const [raw, cleaned] of [
      ['report\u0085.pdf', 'report.pdf'],
      ['invoice\u202Efdp.exe', 'invoicefdp.exe'],
    ] as const) {
      const data = randomBytes(1000);
      const viaTus = await tusUpload(system, user, data, raw);
      t.truthy(viaTus.fileId, `tus ${JSON.stringify(raw)}: the completing PATCH names the file`);
      const direct = await directUpload(system, user, data, { filename: raw, type: 'application/pdf', metadata: { name: raw } });
      t.is(direct.status, 200);
      t.truthy(direct.body.fileId, `direct ${JSON.stringify(raw)}: complete names the file`);
      const files = await ownedFiles(system, user);
      t.is(files.find((f) => f.id === viaTus.fileId)?.name, cleaned);
      t.is(files.find((f) => f.id === direct.body.fileId)?.name, cleaned);
    }
  });

  test.serial(`${mode}: a tus PATCH at the final offset of a completed upload answers 204 with the file id; elsewhere 409`, async (t) => {
    const system = await systemFor(mode);
    const user = await registerAndLogin(system.baseUrl);
    const data = randomBytes(4096);
    const done = await tusUpload(system, user, data, 'finished.bin');
    const patch = (offset: number) =>
      fetch(done.url, {
        method: 'PATCH',
        headers: { ...user.auth, 'Tus-Resumable': '1.0.0', 'Upload-Offset': String(offset), 'Content-Type': 'application/offset+octet-stream' },
        body: new Uint8Array(0),
      });
    const again = await patch(data.length);
    t.is(again.status, 204);
    t.is(again.headers.get('upload-offset'), String(data.length));
    t.is(again.headers.get('GoVault-File-Id'), done.fileId ?? null);
    t.is((await patch(10)).status, 409);
  });

  test.serial(`${mode}: bad tus headers and metadata get a 4xx, never a 5xx, and create nothing`, async (t) => {
    const system = await systemFor(mode);
    const user = await registerAndLogin(system.baseUrl);
    const endpoint = `${system.baseUrl}/api/uploads/tus`;
    const tusHeaders = { ...user.auth, 'Tus-Resumable': '1.0.0' };
    const before = await inFlight(system, user);
    const manyKeys = Array.from({ length: 1000 }, (_, i) => `k${i}`).join(',');
    const posts: Array<[string, Record<string, string>]> = [
      ['NUL in a metadata value', { 'Upload-Length': '10', 'Upload-Metadata': `filename ${b64('a.txt')},note ${b64('x\u0000y')}` }],
      ['NUL in the filename', { 'Upload-Length': '10', 'Upload-Metadata': `filename ${b64('a\u0000.txt')}` }],
      ['Upload-Length past 2^53', { 'Upload-Length': '9007199254740993' }],
      ['Upload-Length 2^64', { 'Upload-Length': '18446744073709551616' }],
      ['Upload-Length 2^54', { 'Upload-Length': '18014398509481984' }],
      ['negative Upload-Length', { 'Upload-Length': '-1' }],
      ['Upload-Length with a plus', { 'Upload-Length': '+5' }],
      ['Upload-Length not digits', { 'Upload-Length': '5abc' }],
      ['Upload-Length in hex', { 'Upload-Length': '0x10' }],
      ['Upload-Length as an exponent', { 'Upload-Length': '1e3' }],
      ['metadata not base64', { 'Upload-Length': '10', 'Upload-Metadata': 'filename ***' }],
      ['metadata key with a space', { 'Upload-Length': '10', 'Upload-Metadata': `file name ${b64('a')}` }],
      ['empty metadata key', { 'Upload-Length': '10', 'Upload-Metadata': `filename ${b64('a')}, ${b64('b')}` }],
      ['a non-ASCII metadata key', { 'Upload-Length': '10', 'Upload-Metadata': `f\u00efle ${b64('a')}` }],
      ['1000 metadata keys', { 'Upload-Length': '10', 'Upload-Metadata': manyKeys }],
      ['a prototype metadata key', { 'Upload-Length': '10', 'Upload-Metadata': `constructor ${b64('y')},__proto__ ${b64('z')}` }],
      ['Upload-Concat neither partial nor final', { 'Upload-Length': '10', 'Upload-Concat': 'parallel' }],
      ['Upload-Concat partial twice', { 'Upload-Length': '10', 'Upload-Concat': 'partial, partial' }],
      ['a partial with a bad length', { 'Upload-Length': '1e3', 'Upload-Concat': 'partial' }],
      ['a final naming nothing', { 'Upload-Concat': 'final;' }],
      ['a final with its own length', { 'Upload-Length': '10', 'Upload-Concat': 'final;/api/uploads/tus/0123456789abcdef0123456789abcdef' }],
      ['a final naming a URL with an encoded control character', { 'Upload-Concat': 'final;/api/uploads/tus/%01%00' }],
      ['a final naming an upload of no one', { 'Upload-Concat': 'final;/api/uploads/tus/0123456789abcdef0123456789abcdef' }],
      ['length and deferral', { 'Upload-Length': '10', 'Upload-Defer-Length': '1' }],
    ];
    for (const [label, headers] of posts) {
      const { status } = await fetch(endpoint, { method: 'POST', headers: { ...tusHeaders, ...headers } });
      t.true(status >= 400 && status < 500, `${label}: ${status}`);
    }
    const twice = await rawRequest(endpoint, 'POST', { ...tusHeaders, 'Upload-Length': ['10', '10'] });
    t.true(twice >= 400 && twice < 500, `a duplicated Upload-Length: ${twice}`);
    t.deepEqual(await inFlight(system, user), before, 'nothing was created');

    const created = await fetch(endpoint, { method: 'POST', headers: { ...tusHeaders, 'Upload-Length': '10' } });
    const location = created.headers.get('location')!;
    for (const offset of ['9007199254740993', '18014398509481984', '-1', '+0', 'abc', '0x0', '1e1', '']) {
      const response = await fetch(location, {
        method: 'PATCH',
        headers: { ...tusHeaders, 'Upload-Offset': offset, 'Content-Type': 'application/offset+octet-stream' },
        body: 'abc',
      });
      t.true(response.status >= 400 && response.status < 500, `Upload-Offset ${JSON.stringify(offset)}: ${response.status}`);
    }
    const twiceOffset = await rawRequest(location, 'PATCH', { ...tusHeaders, 'Upload-Offset': ['0', '0'], 'Content-Type': 'application/offset+octet-stream', 'Content-Length': '0' });
    t.true(twiceOffset >= 400 && twiceOffset < 500, `a duplicated Upload-Offset: ${twiceOffset}`);
    const twiceLength = await rawRequest(location, 'PATCH', { ...tusHeaders, 'Upload-Offset': '0', 'Upload-Length': ['10', '11'], 'Content-Type': 'application/offset+octet-stream', 'Content-Length': '0' });
    t.true(twiceLength >= 400 && twiceLength < 500, `a PATCH with two Upload-Lengths: ${twiceLength}`);
    const head = await fetch(location, { method: 'HEAD', headers: tusHeaders });
    t.is(head.headers.get('upload-offset'), '0', 'no bad PATCH moved the offset');

    for (const id of ['%zz', '..%2F..%2Fetc', 'a'.repeat(5000), '%00', encodeURIComponent('\u0085')]) {
      for (const method of ['HEAD', 'PATCH', 'DELETE']) {
        const response = await fetch(`${endpoint}/${id}`, {
          method,
          headers: { ...tusHeaders, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
          body: method === 'PATCH' ? 'x' : undefined,
        });
        t.true(response.status >= 400 && response.status < 500, `${method} /tus/${id.slice(0, 20)}: ${response.status}`);
      }
    }
  });

  test.serial(`${mode}: bad direct-upload input gets a 4xx before anything exists in the store; prototype keys are plain metadata`, async (t) => {
    const system = await systemFor(mode);
    const user = await registerAndLogin(system.baseUrl);
    const call = companion(system, user);
    const before = await inFlight(system, user);
    const creates: Array<[string, unknown]> = [
      ['NUL in a metadata value', { filename: 'a.bin', metadata: { note: 'x\u0000y' } }],
      ['a lone surrogate in a metadata value', { filename: 'a.bin', metadata: { note: 'x\ud800y' } }],
      ['an empty metadata key', { filename: 'a.bin', metadata: { '': 'y' } }],
      ['a metadata key with a space', { filename: 'a.bin', metadata: { 'a b': 'y' } }],
      ['a metadata key with a control', { filename: 'a.bin', metadata: { 'a\u0001': 'y' } }],
      ['1000 metadata keys', { filename: 'a.bin', metadata: Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, 'v'])) }],
      ['metadata not an object', { filename: 'a.bin', metadata: ['a'] }],
      ['a size past 2^53', { filename: 'a.bin', metadata: {}, size: 2 ** 54 }],
      ['a negative size', { filename: 'a.bin', metadata: {}, size: -1 }],
      ['not JSON', '{"filename":'],
    ];
    for (const [label, body] of creates) {
      const response = await call('POST', '', body);
      t.true(response.status >= 400 && response.status < 500, `${label}: ${response.status}`);
      t.is(typeof response.body?.error?.code, 'string', `${label}: a JSON error`);
    }
    t.deepEqual(await inFlight(system, user), before, 'no session and no S3 multipart upload was created');

    const prototypeKeys = await directUpload(system, user, randomBytes(100), {
      filename: 'proto.bin',
      metadata: { constructor: 'y', toString: 'w', hasOwnProperty: 'v', valueOf: 'u' },
    });
    t.is(prototypeKeys.status, 200, `prototype names are ordinary metadata keys: ${JSON.stringify(prototypeKeys.body)}`);
    t.truthy(prototypeKeys.body.fileId);
    const protoKey = await call('POST', '', '{"filename":"a.bin","metadata":{"__proto__":"z"}}');
    t.is(protoKey.status, 400, 'the JSON parser refuses a __proto__ key outright');
    t.deepEqual(await inFlight(system, user), before, 'and that created nothing either');

    const created = (await call('POST', '', { filename: 'routes.bin', metadata: {} })).body as { uploadId: string; key: string };
    const { uploadId, key } = created;
    const probes: Array<[string, string, string, unknown?]> = [
      ['part 0', 'GET', `/${uploadId}/0?key=${key}`],
      ['part 10001', 'GET', `/${uploadId}/10001?key=${key}`],
      ['part abc', 'GET', `/${uploadId}/abc?key=${key}`],
      ['part -1', 'GET', `/${uploadId}/-1?key=${key}`],
      ['part 1e3', 'GET', `/${uploadId}/1e3?key=${key}`],
      ['a huge key', 'GET', `/${uploadId}/1?key=${'k'.repeat(6000)}`],
      ['a key twice', 'GET', `/${uploadId}/1?key=${key}&key=${key}`],
      ['no key', 'GET', `/${uploadId}/1`],
      ['a key of another upload', 'GET', `/${uploadId}/1?key=${'0'.repeat(32)}`],
      ['batch: empty partNumbers', 'GET', `/${uploadId}/batch?key=${key}&partNumbers=`],
      ['batch: garbage', 'GET', `/${uploadId}/batch?key=${key}&partNumbers=a,b`],
      ['batch: empty items', 'GET', `/${uploadId}/batch?key=${key}&partNumbers=1,,2`],
      ['batch: repeated', 'GET', `/${uploadId}/batch?key=${key}&partNumbers=1,1`],
      ['batch: out of range', 'GET', `/${uploadId}/batch?key=${key}&partNumbers=0,10001`],
      ['batch: too many', 'GET', `/${uploadId}/batch?key=${key}&partNumbers=${Array.from({ length: 1001 }, (_, i) => i + 1).join(',')}`],
      ['batch: twice', 'GET', `/${uploadId}/batch?key=${key}&partNumbers=1&partNumbers=2`],
      ['list: a huge key', 'GET', `/${uploadId}?key=${'k'.repeat(6000)}`],
      ['complete: no parts', 'POST', `/${uploadId}/complete?key=${key}`, { parts: [] }],
      ['complete: part 0', 'POST', `/${uploadId}/complete?key=${key}`, { parts: [{ PartNumber: 0, ETag: 'x' }] }],
      ['complete: part as text', 'POST', `/${uploadId}/complete?key=${key}`, { parts: [{ PartNumber: '1', ETag: 'x' }] }],
      ['complete: not JSON', 'POST', `/${uploadId}/complete?key=${key}`, '{"parts":'],
      ['abort: a huge key', 'DELETE', `/${uploadId}?key=${'k'.repeat(6000)}`],
      ['an upload id that is not one', 'GET', `/${'z'.repeat(32)}?key=${key}`],
    ];
    for (const [label, method, path, body] of probes) {
      const response = await call(method, path, body);
      t.true(response.status >= 400 && response.status < 500, `${label}: ${response.status}`);
    }
    if (mode === 'embedded') {
      // Embedded mode's own part URLs (no token: their signature is the credential).
      const { url } = (await call('GET', `/${uploadId}/1?key=${key}`)).body as { url: string };
      const signed = new URL(url);
      const partUrl = (partNumber: string, query: Record<string, string>) =>
        `${signed.origin}/api/uploads/parts/${uploadId}/${partNumber}?${new URLSearchParams({ ...Object.fromEntries(signed.searchParams), ...query })}`;
      for (const [label, target] of [
        ['part abc', partUrl('abc', {})],
        ['part 0', partUrl('0', {})],
        ['part 10001', partUrl('10001', {})],
        ['expires past 2^53', partUrl('1', { expires: '9'.repeat(20) })],
        ['expires not digits', partUrl('1', { expires: '1e9' })],
        ['signature not hex', partUrl('1', { signature: 'zz' })],
      ]) {
        const response = await fetch(target!, { method: 'PUT', body: 'x' });
        t.true(response.status >= 400 && response.status < 500, `PUT ${label}: ${response.status}`);
      }
    }
    t.is((await call('GET', `/${uploadId}?key=${key}`)).status, 200, 'the upload is still there, untouched');
    t.deepEqual((await call('GET', `/${uploadId}?key=${key}`)).body, [], 'and holds no part');

    for (const state of ['garbage', '', 'incomplete,failed']) {
      const listed = await getJson<{ error: { code: string } }>(`${system.baseUrl}/api/uploads?state=${encodeURIComponent(state)}`, user.auth);
      t.is(listed.status, 400, `GET /api/uploads?state=${state}`);
      t.is(listed.body.error.code, 'validation_failed');
    }
  });
}
