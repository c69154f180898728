import { createHash } from 'node:crypto';
import http from 'node:http';
import test from 'ava';
import { registerAndLogin, type TestUser } from './client.ts';
import { availableModes, systemPerMode, type RunningSystem } from './system.ts';
import { createUpload, headUpload, patchUpload, terminateUpload } from './tus-raw.ts';

/**
 * The tus endpoint's protocol (ARCHITECTURE.md's tus section, issue 17) as a table: each row is a
 * request against an upload in a given state, with the status and headers it must answer,
 * run through the gateway in both storage modes. No row may answer 5xx.
 */
const { systemFor, stopAll } = systemPerMode();
test.after.always(stopAll);

const TUS = { 'Tus-Resumable': '1.0.0' };
const OCTET = 'application/offset+octet-stream';
const SIZE = 8;
const BYTES = Buffer.from('abcdefgh');
const IMF = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;
const EXPIRY_SECONDS = 24 * 3600; // UPLOAD_EXPIRY_SECONDS default, server/upload/src/config.ts
const b64 = (bytes: Buffer) => bytes.toString('base64');
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

type State = 'none' | 'fresh' | 'half' | 'completed' | 'terminated' | 'terminated-completed' | 'other-user' | 'unknown'
  | 'partials' | 'partial-half' | 'partial-terminated' | 'final';
/** `partials`: the partial uploads of a concatenation state (url is the first of them, or the final). */
interface Fixture { system: RunningSystem; user: TestUser; url: string; fileId?: string; partials?: string[]; }
interface Row {
  name: string;
  state: State;
  request: (f: Fixture) => { method: string; path?: string; headers: Record<string, string>; body?: Buffer; raw?: boolean; noAuth?: boolean };
  expect: { status: number; headers?: Record<string, RegExp | string>; absent?: string[] };
  /** the upload must still be at this offset afterwards */
  unchanged?: number;
  after?: (f: Fixture, answer: Answer) => Promise<void>;
}
interface Answer { status: number; headers: Record<string, string>; }

const patch = (offset: string | undefined, contentType: string | undefined, body = BYTES.subarray(0, 4), extra: Record<string, string> = {}) => () => ({
  method: 'PATCH',
  headers: { ...TUS, ...(offset === undefined ? {} : { 'Upload-Offset': offset }), ...(contentType === undefined ? {} : { 'Content-Type': contentType }), ...extra },
  body,
  raw: contentType === undefined,
});
const checksum = (value: string) => patch('0', OCTET, BYTES.subarray(0, 4), { 'Upload-Checksum': value });
const post = (headers: Record<string, string>, body?: Buffer, raw = false) => () => ({ method: 'POST', path: '/api/uploads/tus', headers: { ...TUS, ...headers }, body, raw });
const meta = { 'Upload-Metadata': `filename ${Buffer.from('p.bin').toString('base64')}` };

const OPTIONS_HEADERS = {
  'tus-resumable': '1.0.0',
  'tus-version': '1.0.0',
  'tus-extension': /^(?=.*\bcreation\b)(?=.*creation-with-upload)(?=.*creation-defer-length)(?=.*termination)(?=.*expiration)(?=.*checksum)(?=.*\bconcatenation\b)(?!.*concatenation-unfinished)/,
  'tus-max-size': /^\d+$/,
  'tus-checksum-algorithm': /^(?=.*sha1)(?=.*md5)(?=.*sha256)/,
};

const rows: Row[] = [
  { name: 'collection -> 200', state: 'none', request: () => ({ method: 'OPTIONS', path: '/api/uploads/tus', headers: {} }), expect: { status: 200, headers: OPTIONS_HEADERS } },
  { name: 'upload url -> 200', state: 'fresh', request: () => ({ method: 'OPTIONS', headers: {} }), expect: { status: 200, headers: OPTIONS_HEADERS } },
  { name: 'no Tus-Resumable -> 412', state: 'fresh', request: () => ({ method: 'HEAD', headers: {} }), expect: { status: 412, headers: { 'tus-version': /1\.0\.0/ } } },
  { name: 'Tus-Resumable 0.2.2 -> 412', state: 'fresh', request: () => ({ method: 'PATCH', headers: { 'Tus-Resumable': '0.2.2', 'Upload-Offset': '0', 'Content-Type': OCTET }, body: BYTES.subarray(0, 4) }), expect: { status: 412, headers: { 'tus-version': /1\.0\.0/ } }, unchanged: 0 },
  { name: 'POST no Tus-Resumable -> 412', state: 'none', request: () => ({ method: 'POST', path: '/api/uploads/tus', headers: { 'Upload-Length': '4' } }), expect: { status: 412, headers: { 'tus-version': /1\.0\.0/ } } },
  { name: 'DELETE no Tus-Resumable -> 412', state: 'fresh', request: () => ({ method: 'DELETE', headers: {} }), expect: { status: 412 }, unchanged: 0 },
  { name: 'no Content-Type with body -> 415', state: 'fresh', request: patch('0', undefined), expect: { status: 415 }, unchanged: 0 },
  { name: 'Content-Type application/octet-stream -> 415', state: 'fresh', request: patch('0', 'application/octet-stream'), expect: { status: 415 }, unchanged: 0 },
  { name: 'Content-Type with parameter -> 415', state: 'half', request: patch('4', `${OCTET}; charset=utf-8`), expect: { status: 415 }, unchanged: 4 },
  { name: 'no Upload-Offset -> 400', state: 'fresh', request: patch(undefined, OCTET), expect: { status: 400 }, unchanged: 0 },
  { name: 'Upload-Offset -1 -> 400', state: 'fresh', request: patch('-1', OCTET), expect: { status: 400 }, unchanged: 0 },
  { name: 'Upload-Offset abc -> 400', state: 'half', request: patch('abc', OCTET), expect: { status: 400 }, unchanged: 4 },
  { name: 'Upload-Offset 1.5 -> 400', state: 'half', request: patch('1.5', OCTET), expect: { status: 400 }, unchanged: 4 },
  { name: 'wrong offset -> 409', state: 'half', request: patch('0', OCTET), expect: { status: 409, headers: { 'upload-offset': '4' } }, unchanged: 4 },
  { name: 'right offset -> 204', state: 'half', request: patch('4', OCTET, BYTES.subarray(4)), expect: { status: 204, headers: { 'upload-offset': '8', 'govault-file-id': /.+/ } } },
  { name: 'checksum not "<algo> <base64>" -> 400', state: 'fresh', request: checksum('sha256'), expect: { status: 400 }, unchanged: 0 },
  { name: 'checksum unsupported algorithm -> 400', state: 'fresh', request: checksum(`crc32 ${b64(Buffer.from([1, 2, 3, 4]))}`), expect: { status: 400 }, unchanged: 0 },
  { name: 'checksum digest of wrong length -> 460', state: 'fresh', request: checksum(`sha256 ${b64(Buffer.from('12345'))}`), expect: { status: 460 }, unchanged: 0 },
  { name: 'checksum wrong digest -> 460', state: 'fresh', request: checksum(`sha256 ${b64(createHash('sha256').update('zzzz').digest())}`), expect: { status: 460 }, unchanged: 0 },
  { name: 'checksum right digest -> 204', state: 'fresh', request: checksum(`sha1 ${b64(createHash('sha1').update(BYTES.subarray(0, 4)).digest())}`), expect: { status: 204, headers: { 'upload-offset': '4' } } },
  {
    name: 'unfinished -> 200 with Upload-Expires', state: 'half', request: () => ({ method: 'HEAD', headers: TUS }),
    expect: { status: 200, headers: { 'upload-offset': '4', 'upload-length': '8', 'cache-control': /no-store/, 'upload-expires': IMF } },
    after: async (_f, answer) => {
      const expires = Date.parse(answer.headers['upload-expires']!);
      if (!(Math.abs(expires - (Date.now() + EXPIRY_SECONDS * 1000)) < 60_000)) throw new Error(`Upload-Expires ${answer.headers['upload-expires']} is not now + ${EXPIRY_SECONDS}s`);
    },
  },
  { name: 'deferred -> 200 with Upload-Defer-Length', state: 'none', request: () => ({ method: 'HEAD', headers: TUS, deferred: true }) as never, expect: { status: 200, headers: { 'upload-defer-length': '1', 'upload-offset': '0', 'upload-expires': IMF }, absent: ['upload-length'] } },
  { name: 'completed -> 200 without Upload-Expires', state: 'completed', request: () => ({ method: 'HEAD', headers: TUS }), expect: { status: 200, headers: { 'upload-offset': '8', 'govault-file-id': /.+/ }, absent: ['upload-expires'] } },
  { name: 'completed at final offset -> 204', state: 'completed', request: patch('8', OCTET, Buffer.alloc(0)), expect: { status: 204, headers: { 'upload-offset': '8', 'govault-file-id': /.+/ } } },
  { name: 'completed at other offset -> 409', state: 'completed', request: patch('4', OCTET), expect: { status: 409 }, unchanged: 8 },
  {
    name: 'completed -> 204, file kept', state: 'completed', request: () => ({ method: 'DELETE', headers: TUS }), expect: { status: 204 },
    after: async (f) => {
      const head = await headUpload(f.url, f.user);
      if (head.status !== 410) throw new Error(`HEAD after DELETE answered ${head.status}, not 410`);
      const again = await patchUpload(f.url, f.user, 8, Buffer.alloc(0));
      if (again.status !== 410) throw new Error(`PATCH after DELETE answered ${again.status}, not 410`);
      const content = await fetch(`${f.system.baseUrl}/api/files/${f.fileId}/content`, { headers: f.user.auth });
      if (content.status !== 200) throw new Error(`file content answered ${content.status}`);
      if (sha256(new Uint8Array(await content.arrayBuffer())) !== sha256(BYTES)) throw new Error('file bytes changed after DELETE of its upload');
    },
  },
  {
    name: 'unfinished -> 204 then 410', state: 'half', request: () => ({ method: 'DELETE', headers: TUS }), expect: { status: 204 },
    after: async (f) => {
      const head = await headUpload(f.url, f.user);
      if (head.status !== 410) throw new Error(`HEAD after DELETE answered ${head.status}, not 410`);
    },
  },
  { name: 'terminated -> 410', state: 'terminated', request: () => ({ method: 'HEAD', headers: TUS }), expect: { status: 410 } },
  { name: 'terminated -> 410', state: 'terminated', request: patch('0', OCTET), expect: { status: 410 } },
  { name: 'other user -> 404', state: 'other-user', request: () => ({ method: 'HEAD', headers: TUS }), expect: { status: 404 } },
  { name: 'other user -> 404', state: 'other-user', request: patch('0', OCTET), expect: { status: 404 }, unchanged: 0 },
  { name: 'other user -> 404', state: 'other-user', request: () => ({ method: 'DELETE', headers: TUS }), expect: { status: 404 }, unchanged: 0 },
  { name: 'unknown id -> 404', state: 'unknown', request: () => ({ method: 'HEAD', headers: TUS }), expect: { status: 404 } },
  { name: 'unknown id -> 404', state: 'unknown', request: patch('0', OCTET), expect: { status: 404 } },
  { name: 'unknown id -> 404', state: 'unknown', request: () => ({ method: 'DELETE', headers: TUS }), expect: { status: 404 } },
  { name: 'no token -> 401', state: 'fresh', request: () => ({ method: 'HEAD', headers: TUS, noAuth: true }), expect: { status: 401 } },
  { name: 'no token -> 401', state: 'fresh', request: () => ({ ...patch('0', OCTET)(), noAuth: true }), expect: { status: 401 }, unchanged: 0 },
  { name: 'no token -> 401', state: 'none', request: () => ({ ...post({ 'Upload-Length': '4', ...meta })(), noAuth: true }), expect: { status: 401 } },
  { name: 'creation -> 201', state: 'none', request: post({ 'Upload-Length': '4', ...meta }), expect: { status: 201, headers: { location: /\/api\/uploads\/tus\/.+/ } } },
  { name: 'creation-with-upload -> 201', state: 'none', request: post({ 'Upload-Length': '8', 'Content-Type': OCTET, ...meta }, BYTES), expect: { status: 201, headers: { location: /.+/, 'upload-offset': '8' } } },
  { name: 'body with text/plain -> 415, nothing created', state: 'none', request: post({ 'Upload-Length': '8', 'Content-Type': 'text/plain', ...meta }, BYTES), expect: { status: 415 } },
  { name: 'body without Content-Type -> 415, nothing created', state: 'none', request: post({ 'Upload-Length': '8', ...meta }, BYTES, true), expect: { status: 415 } },
  { name: 'chunked body with application/json -> 415, nothing created', state: 'none', request: () => ({ ...post({ 'Upload-Length': '8', 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', ...meta }, BYTES, true)() }), expect: { status: 415 } },
  { name: 'Upload-Length over Tus-Max-Size -> 413', state: 'none', request: () => ({ method: 'POST', path: '/api/uploads/tus', headers: { ...TUS, ...meta, 'Upload-Length': 'MAX+1' } }), expect: { status: 413 } },
  { name: 'Upload-Length and Upload-Defer-Length -> 400', state: 'none', request: post({ 'Upload-Length': '8', 'Upload-Defer-Length': '1', ...meta }), expect: { status: 400 } },
  { name: 'neither Upload-Length nor Upload-Defer-Length -> 400', state: 'none', request: post({ ...meta }), expect: { status: 400 } },
  ...concatenationRows(),
];

/** The concatenation extension: partial uploads, and final uploads made of them. */
function concatenationRows(): Row[] {
  const final = (urls: (f: Fixture) => string[], headers: Record<string, string> = {}, body?: Buffer) => (f: Fixture) => ({
    method: 'POST', path: '/api/uploads/tus', headers: { ...TUS, ...meta, 'Upload-Concat': `final;${urls(f).join(' ')}`, ...headers }, body,
  });
  const both = (f: Fixture) => f.partials ?? [];
  const finalHeaders = { location: /\/api\/uploads\/tus\/[0-9a-f]{32}$/, 'upload-concat': /^final;\/api\/uploads\/tus\/[0-9a-f]{32} \/api\/uploads\/tus\/[0-9a-f]{32}$/, 'govault-file-id': /.+/ };
  const concatValue = (value: string) => () => ({ method: 'POST', path: '/api/uploads/tus', headers: { ...TUS, ...meta, 'Upload-Concat': value } });
  /** The final upload's HEAD and its file, after a 201. */
  const finalHolds = (expected: Buffer) => async (f: Fixture, answer: Answer) => {
    const head = await headUpload(answer.headers.location!, f.user);
    if (head.status !== 200) throw new Error(`HEAD of the final upload answered ${head.status}`);
    for (const name of ['upload-offset', 'upload-length']) if (head.headers.get(name) !== String(expected.length)) throw new Error(`final HEAD ${name} ${head.headers.get(name)}, not ${expected.length}`);
    if (!head.headers.get('upload-concat')?.startsWith('final;')) throw new Error(`final HEAD Upload-Concat ${head.headers.get('upload-concat')}`);
    if (head.headers.get('upload-expires') !== null) throw new Error('a final upload is complete: no Upload-Expires');
    const content = await fetch(`${f.system.baseUrl}/api/files/${answer.headers['govault-file-id']}/content`, { headers: f.user.auth });
    if (sha256(new Uint8Array(await content.arrayBuffer())) !== sha256(expected)) throw new Error('the final file does not hold the partials in order');
  };
  return [
    {
      name: 'Upload-Concat partial -> 201, not listed', state: 'none', request: post({ 'Upload-Length': '4', 'Upload-Concat': 'partial' }), expect: { status: 201, headers: { location: /.+/ } },
      after: async (f, answer) => {
        const listed = (await (await fetch(`${f.system.baseUrl}/api/uploads?state=incomplete`, { headers: f.user.auth })).json()) as { items: Array<{ id: string }> };
        if (listed.items.some((item) => answer.headers.location!.endsWith(`/${item.id}`))) throw new Error('a partial upload is listed among unfinished uploads');
      },
    },
    { name: 'partial with creation-with-upload -> 201', state: 'none', request: post({ 'Upload-Length': '4', 'Upload-Concat': 'partial', 'Content-Type': OCTET }, BYTES.subarray(0, 4)), expect: { status: 201, headers: { 'upload-offset': '4' }, absent: ['govault-file-id'] } },
    { name: 'unfinished partial -> Upload-Concat partial', state: 'partial-half', request: () => ({ method: 'HEAD', headers: TUS }), expect: { status: 200, headers: { 'upload-concat': 'partial', 'upload-offset': '4', 'upload-expires': IMF } } },
    { name: 'finished partial -> Upload-Concat partial, no file', state: 'partials', request: () => ({ method: 'HEAD', headers: TUS }), expect: { status: 200, headers: { 'upload-concat': 'partial', 'upload-offset': '4', 'upload-length': '4', 'upload-expires': IMF }, absent: ['govault-file-id'] } },
    { name: 'final of two partials -> 201, length the sum', state: 'partials', request: final(both), expect: { status: 201, headers: finalHeaders }, after: finalHolds(BYTES) },
    { name: 'final with relative partial URLs -> 201', state: 'partials', request: final((f) => both(f).map((u) => new URL(u).pathname)), expect: { status: 201, headers: finalHeaders }, after: finalHolds(BYTES) },
    { name: 'final naming one partial twice -> 201', state: 'partials', request: final((f) => [both(f)[0] ?? '', both(f)[0] ?? '']), expect: { status: 201, headers: { location: /.+/ } }, after: finalHolds(Buffer.concat([BYTES.subarray(0, 4), BYTES.subarray(0, 4)])) },
    { name: 'final -> 200 with Upload-Concat final;<partials>', state: 'final', request: () => ({ method: 'HEAD', headers: TUS }), expect: { status: 200, headers: { 'upload-concat': /^final;\/api\/uploads\/tus\/[0-9a-f]{32} \/api\/uploads\/tus\/[0-9a-f]{32}$/, 'upload-offset': '8', 'upload-length': '8', 'govault-file-id': /.+/ }, absent: ['upload-expires'] } },
    { name: 'final at its offset -> 403', state: 'final', request: patch('8', OCTET, Buffer.alloc(0)), expect: { status: 403 }, unchanged: 8 },
    { name: 'final at 0 -> 403', state: 'final', request: patch('0', OCTET), expect: { status: 403 }, unchanged: 8 },
    { name: 'final with Upload-Length -> 400', state: 'partials', request: final(both, { 'Upload-Length': '8' }), expect: { status: 400 } },
    { name: 'final with Upload-Defer-Length -> 400', state: 'partials', request: final(both, { 'Upload-Defer-Length': '1' }), expect: { status: 400 } },
    { name: 'final with a body -> 400', state: 'partials', request: final(both, { 'Content-Type': OCTET }, BYTES), expect: { status: 400 } },
    { name: 'final naming an unfinished partial -> 400', state: 'partial-half', request: final((f) => [f.url]), expect: { status: 400 } },
    { name: 'final naming a plain upload -> 400', state: 'completed', request: final((f) => [f.url]), expect: { status: 400 } },
    { name: 'final naming a final -> 400', state: 'final', request: final((f) => [f.url]), expect: { status: 400 } },
    { name: 'final naming an unknown upload -> 404', state: 'unknown', request: final((f) => [f.url]), expect: { status: 404 } },
    { name: 'final naming another user\'s upload -> 404', state: 'other-user', request: final((f) => [f.url]), expect: { status: 404 } },
    { name: 'final naming a terminated partial -> 410', state: 'partial-terminated', request: final((f) => [f.url]), expect: { status: 410 } },
    { name: 'Upload-Concat neither partial nor final -> 400', state: 'none', request: concatValue('parallel'), expect: { status: 400 } },
    { name: 'final naming nothing -> 400', state: 'none', request: concatValue('final;'), expect: { status: 400 } },
    { name: 'final naming a URL that is no upload -> 400', state: 'none', request: concatValue('final;http://127.0.0.1/api/files/x'), expect: { status: 400 } },
    { name: 'final naming 257 partials -> 400', state: 'none', request: concatValue(`final;${Array.from({ length: 257 }, () => '/api/uploads/tus/00000000000000000000000000000000').join(' ')}`), expect: { status: 400 } },
    {
      name: 'finished partial -> 204, its bytes gone', state: 'partials', request: () => ({ method: 'DELETE', headers: TUS }), expect: { status: 204 },
      after: async (f) => {
        const head = await headUpload(f.url, f.user);
        if (head.status !== 410) throw new Error(`HEAD after DELETE answered ${head.status}, not 410`);
        const again = await fetch(`${f.system.baseUrl}/api/uploads/tus`, { method: 'POST', headers: { ...f.user.auth, ...TUS, 'Upload-Concat': `final;${f.partials!.join(' ')}` } });
        if (again.status !== 410) throw new Error(`a final naming the terminated partial answered ${again.status}, not 410`);
      },
    },
  ];
}

async function fixture(system: RunningSystem, user: TestUser, state: State): Promise<Fixture> {
  if (state.startsWith('partial') || state === 'final') return concatenationFixture(system, user, state);
  if (state === 'none') return { system, user, url: '' };
  if (state === 'unknown') return { system, user, url: `${system.baseUrl}/api/uploads/tus/00000000000000000000000000000000` };
  const owner = state === 'other-user' ? await registerAndLogin(system.baseUrl) : user;
  const url = await createUpload(system.baseUrl, owner, SIZE, 'protocol.bin');
  let fileId: string | undefined;
  if (state === 'half') await patchUpload(url, owner, 0, BYTES.subarray(0, 4));
  if (state === 'completed' || state === 'terminated-completed') {
    const done = await patchUpload(url, owner, 0, BYTES);
    if (done.status !== 204) throw new Error(`fixture PATCH answered ${done.status}`);
    fileId = done.headers.get('govault-file-id') ?? undefined;
  }
  if (state === 'terminated') await terminateUpload(url, owner);
  return { system, user, url, fileId };
}

/** Partial uploads (4 bytes each, BYTES in two halves), and a final upload made of them. */
async function concatenationFixture(system: RunningSystem, user: TestUser, state: State): Promise<Fixture> {
  const partial = async (bytes: Buffer, length = bytes.length) => {
    const url = await createUpload(system.baseUrl, user, length, 'partial.bin', { 'Upload-Concat': 'partial' });
    const written = await patchUpload(url, user, 0, bytes);
    if (written.status !== 204) throw new Error(`partial PATCH answered ${written.status}`);
    return url;
  };
  if (state === 'partial-half') return { system, user, url: await partial(BYTES.subarray(0, 4), SIZE) };
  const partials = [await partial(BYTES.subarray(0, 4)), await partial(BYTES.subarray(4))];
  if (state === 'partial-terminated') await terminateUpload(partials[0]!, user);
  if (state !== 'final') return { system, user, url: partials[0]!, partials };
  const created = await fetch(`${system.baseUrl}/api/uploads/tus`, { method: 'POST', headers: { ...user.auth, ...TUS, ...meta, 'Upload-Concat': `final;${partials.join(' ')}` } });
  if (created.status !== 201) throw new Error(`fixture final answered ${created.status}`);
  return { system, user, url: created.headers.get('location')!, partials, fileId: created.headers.get('govault-file-id') ?? undefined };
}

/** node:http for what fetch will not send: a body without Content-Type, a chunked body. */
function rawRequest(url: string, method: string, headers: Record<string, string>, body?: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const chunked = headers['Transfer-Encoding'] === 'chunked';
    const request = http.request(url, { method, agent: false, headers: chunked || !body ? headers : { ...headers, 'Content-Length': String(body.length) } });
    request.once('response', (response) => {
      response.resume();
      resolve({ status: response.statusCode!, headers: Object.fromEntries(Object.entries(response.headers).map(([k, v]) => [k, String(v)])) });
    });
    request.once('error', reject);
    request.end(body);
  });
}

async function incompleteCount(system: RunningSystem, user: TestUser) {
  const listed = (await (await fetch(`${system.baseUrl}/api/uploads?state=incomplete`, { headers: user.auth })).json()) as { items: unknown[] };
  return listed.items.length;
}

const seen: Array<{ title: string; status: number }> = [];
const users = new Map<string, Promise<TestUser>>();

for (const mode of availableModes()) {
  for (const row of rows) {
    const method = row.request({} as Fixture).method;
    test.serial(`${mode}: ${method} ${row.state}: ${row.name}`, async (t) => {
      const system = await systemFor(mode);
      if (!users.has(mode)) users.set(mode, registerAndLogin(system.baseUrl));
      const user = await users.get(mode)!;
      let f = await fixture(system, user, row.state);
      const spec = row.request(f) as ReturnType<Row['request']> & { deferred?: boolean };
      if (spec.deferred) f = { ...f, url: await createDeferred(system, user) };
      const url = spec.path ? `${system.baseUrl}${spec.path}` : f.url;
      const headers: Record<string, string> = { ...(spec.noAuth ? {} : user.auth), ...spec.headers };
      if (headers['Upload-Length'] === 'MAX+1') {
        const options = await fetch(`${system.baseUrl}/api/uploads/tus`, { method: 'OPTIONS', headers: TUS });
        const max = Number(options.headers.get('tus-max-size'));
        t.true(max > 0, 'OPTIONS carries Tus-Max-Size');
        headers['Upload-Length'] = String(max + 1);
      }
      const before = spec.method === 'POST' ? await incompleteCount(system, user) : 0;
      let answer: Answer;
      if (spec.raw) answer = await rawRequest(url, spec.method, headers, spec.body);
      else {
        const response = await fetch(url, { method: spec.method, headers, body: spec.body });
        await response.arrayBuffer().catch(() => undefined);
        answer = { status: response.status, headers: Object.fromEntries(response.headers.entries()) };
      }
      seen.push({ title: t.title, status: answer.status });
      t.is(answer.status, row.expect.status, JSON.stringify(answer.headers));
      for (const [name, want] of Object.entries(row.expect.headers ?? {})) {
        const got = answer.headers[name];
        if (typeof want === 'string') t.is(got, want, `header ${name}`);
        else t.regex(got ?? '', want, `header ${name}`);
      }
      for (const name of row.expect.absent ?? []) t.is(answer.headers[name], undefined, `header ${name} must be absent`);
      if (row.unchanged !== undefined) {
        const owner = row.state === 'other-user' ? undefined : user;
        if (owner) {
          const head = await headUpload(f.url, owner);
          t.is(head.headers.get('upload-offset'), String(row.unchanged), 'Upload-Offset did not move');
        }
      }
      if (spec.method === 'POST' && row.expect.status >= 400) t.is(await incompleteCount(system, user), before, 'nothing created');
      if (row.after) await row.after(f, answer);
    });
  }
}

async function createDeferred(system: RunningSystem, user: TestUser) {
  const response = await fetch(`${system.baseUrl}/api/uploads/tus`, { method: 'POST', headers: { ...user.auth, ...TUS, ...meta, 'Upload-Defer-Length': '1' } });
  if (response.status !== 201) throw new Error(`deferred creation answered ${response.status}`);
  return response.headers.get('location')!;
}

test.serial('no row answered 5xx', (t) => {
  t.deepEqual(seen.filter((s) => s.status >= 500), []);
});
