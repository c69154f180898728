import test from 'ava';
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import fc from 'fast-check';
import { postJson, registerAndLogin, type TestUser } from './client.ts';
import { availableModes, startSystem, type RunningSystem } from './system.ts';

/**
 * Nothing a client sends makes a 5xx: generated strings (NUL, C0/C1 controls, lone
 * surrogates, bidi controls, huge numbers, odd dates, prototype keys, invalid UTF-8) go
 * to every public JSON route, query parameter, path id and tus header of a real system,
 * and every answer must be below 500; an error answer of the JSON API must be the JSON
 * error shape. Requests are bounded (RUNS per route) and go to the loopback gateway only.
 */
const RUNS = 60;

interface Sent {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** One request exactly as written: node:http sends the path and headers without reshaping them. */
function send(baseUrl: string, sent: Sent): Promise<Answer> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, method: sent.method, path: sent.path, headers: sent.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(20_000, () => req.destroy(new Error('no answer within 20 s')));
    req.on('error', reject);
    req.end(sent.body);
  });
}

// ---------------------------------------------------------------------------
// what an attacker types

const nastyConstant = fc.constantFrom(
  '\u0000', 'a\u0000b', '\u0085', 'report\u0085.pdf', '\ud800', '\udfff', 'x\ud83d', '\u202e', 'invoice\u202efdp.exe', '\u200b', '\ufeff',
  '%00', '', ' ', '\t', '\r\n', '0000-01-01T00:00:00.000Z', '0000-01-01T00:00:00Z', '-000001-01-01T00:00:00.000Z', '+275760-09-13T00:00:00.000Z',
  '-1', '0', '1e309', '-1e309', 'NaN', 'Infinity', '9007199254740993', '99999999999999999999999999', '0x10', '+5', '1.5',
  'constructor', '__proto__', 'prototype', 'toString', 'hasOwnProperty', 'null', 'undefined', 'true',
  '../../etc/passwd', '..', '.', '/', '\\', 'a'.repeat(5000), '😀', 'thr\u0130-x@example.com', '\u212aelvin@example.com',
  "' OR 1=1 --", '%', '%zz', '{"a":1}', '[]', '00000000-0000-0000-0000-000000000000', 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF',
);

const oddDate = fc
  .date({ min: new Date(-8.64e15), max: new Date(8.64e15), noInvalidDate: true })
  .map((d) => d.toISOString());

const nastyString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: nastyConstant },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 1, arbitrary: oddDate },
  { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.double(), fc.bigInt()).map(String) },
  { weight: 1, arbitrary: fc.emailAddress() },
);

const nastyNumber = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -1, 1, 2 ** 53, 2 ** 53 + 2, 1e308, -1e308, 10001, 5e-324),
);

const jsonValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: nastyString },
  { weight: 2, arbitrary: nastyNumber },
  { weight: 1, arbitrary: fc.constantFrom(null, true, false) },
  { weight: 1, arbitrary: fc.array(nastyString, { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.dictionary(nastyString, nastyString, { maxKeys: 3 }) },
);

/** A JSON object with the route's own keys (good values or nasty ones) and some stray keys. */
function jsonObject(keys: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<Record<string, unknown>> {
  const own = Object.fromEntries(Object.entries(keys).map(([key, good]) => [key, fc.oneof({ weight: 2, arbitrary: good }, { weight: 1, arbitrary: jsonValue })]));
  const stray = fc.oneof({ weight: 3, arbitrary: fc.constant({}) }, { weight: 1, arbitrary: fc.dictionary(fc.oneof(nastyConstant, fc.string({ maxLength: 8 })), jsonValue, { maxKeys: 2 }) });
  return fc
    .tuple(fc.record(own, { requiredKeys: [] }), stray)
    .map(([record, stray]) => Object.assign(Object.create(null) as Record<string, unknown>, stray, record));
}

/** Any body: a generated object as JSON, or bytes that are not JSON at all. */
function jsonBody(keys: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<string | Buffer> {
  return fc.oneof(
    { weight: 6, arbitrary: jsonObject(keys).map((o) => JSON.stringify(o)) },
    { weight: 1, arbitrary: jsonValue.map((v) => JSON.stringify(v) ?? 'null') },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)) },
  );
}

/** Percent-encodes every byte that is not unreserved: lone surrogates become U+FFFD, as UTF-8 requires. */
const encodeText = (s: string) =>
  [...Buffer.from(s, 'utf8')].map((b) => (/[A-Za-z0-9\-._~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, '0')}`)).join('');
/** Raw bytes, percent-encoded: invalid UTF-8 included. */
const encodeBytes = (bytes: Uint8Array) => [...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');

const urlPiece = fc.oneof(
  { weight: 3, arbitrary: nastyString.map(encodeText) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 12 }).map(encodeBytes) },
  { weight: 1, arbitrary: fc.uuid().map((u) => u.toUpperCase()) },
  { weight: 1, arbitrary: fc.constantFrom('%', '%zz', '%c0%80', '%ed%a0%80', '%00') },
);

/** Header values that HTTP/1.1 can carry (field-content: visible ASCII, obs-text, space and tab). */
const headerValue = fc.oneof(
  nastyConstant.filter((s) => /^[\t\x20-\x7e\x80-\xff]*$/.test(s)),
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 60 }),
  fc.string({ unit: fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)), maxLength: 8 }),
  fc.oneof(fc.integer(), fc.bigInt(), fc.double()).map(String),
);

/** tus Upload-Metadata: `key base64,key base64` with generated keys and any bytes as values, or garbage. */
const uploadMetadata = fc.oneof(
  fc
    .array(
      fc.tuple(
        fc.oneof(fc.constantFrom('filename', 'name', 'filetype', 'type', 'relativePath', 'constructor', '__proto__'), fc.string({ unit: fc.constantFrom('a', 'b', '_', '-', '.'), minLength: 1, maxLength: 6 })),
        fc.oneof(nastyString.map((s) => Buffer.from(s, 'utf8')), fc.uint8Array({ maxLength: 32 }).map((b) => Buffer.from(b))),
      ),
      { maxLength: 4 },
    )
    .map((pairs) => pairs.map(([k, v]) => (v.length ? `${k} ${v.toString('base64')}` : k)).join(',')),
  headerValue,
);

// ---------------------------------------------------------------------------
// the routes (ARCHITECTURE.md, Public API)

interface Fixture {
  system: RunningSystem;
  owner: TestUser;
  fileId: string;
  tusUrl: string;
  /** A completed tus upload, and its length. */
  finishedTusUrl: string;
  finishedLength: number;
  multipart: { uploadId: string; key: string };
}

interface Route {
  requests(f: Fixture): fc.Arbitrary<Sent>;
  /** Requests that run before the generated ones: the cases the attack report found. */
  examples?(f: Fixture): Sent[];
}

const id = (f: Fixture) => fc.oneof({ weight: 3, arbitrary: urlPiece }, { weight: 1, arbitrary: fc.constant(f.fileId) }, { weight: 1, arbitrary: fc.uuid() });
const json = (f: Fixture, authenticated = true) => ({ 'content-type': 'application/json', ...(authenticated ? f.owner.auth : {}) });
const query = (names: string[]) =>
  fc
    .array(fc.tuple(fc.constantFrom(...names), fc.oneof(urlPiece, fc.constantFrom('', '50', '1', 'owned', 'shared', 'shortcuts', 'trash'))), { maxLength: 4 })
    .map((pairs) => (pairs.length ? `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}` : ''));

const email = fc.oneof(fc.emailAddress(), nastyString);
const withJson = (f: Fixture, method: string, path: string, body: unknown, authenticated = true): Sent => ({ method, path, headers: json(f, authenticated), body: JSON.stringify(body) });
const cursorOf = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

const jsonRoutes: Record<string, Route> = {
  'POST /api/auth/register': {
    requests: (f) => jsonBody({ email, password: fc.string({ minLength: 8, maxLength: 80 }), displayName: nastyString }).map((body) => ({ method: 'POST', path: '/api/auth/register', headers: json(f, false), body })),
    examples: (f) => [
      withJson(f, 'POST', '/api/auth/register', { email: 'nul\u0000@example.com', password: 'correct horse battery' }, false),
      withJson(f, 'POST', '/api/auth/register', { email: `ok-${randomUUID()}@example.com`, password: 'correct horse battery', displayName: 'A\u0000da' }, false),
      withJson(f, 'POST', '/api/auth/register', { email: `ok-${randomUUID()}@example.com`, password: 'correct horse battery', displayName: '\ud800' }, false),
    ],
  },
  'POST /api/auth/login': {
    requests: (f) => jsonBody({ email, password: nastyString }).map((body) => ({ method: 'POST', path: '/api/auth/login', headers: json(f, false), body })),
    examples: (f) => [withJson(f, 'POST', '/api/auth/login', { email: 'a\u0000@example.com', password: 'whatever1' }, false), withJson(f, 'POST', '/api/auth/login', { email: '\ud800@example.com', password: 'x' }, false)],
  },
  'POST /api/auth/refresh': {
    requests: (f) => jsonBody({ refreshToken: nastyString }).map((body) => ({ method: 'POST', path: '/api/auth/refresh', headers: json(f, false), body })),
    examples: (f) => [withJson(f, 'POST', '/api/auth/refresh', { refreshToken: '\u0000' }, false)],
  },
  'GET /api/auth/me with a forged Authorization': {
    requests: () => headerValue.map((value) => ({ method: 'GET', path: '/api/auth/me', headers: { authorization: `Bearer ${value}` } })),
  },
  'GET /api/files': {
    requests: (f) =>
      fc
        .tuple(query(['view', 'limit', 'cursor', 'q']), fc.oneof(nastyString, oddDate), fc.oneof(fc.uuid(), nastyString), fc.constantFrom('owned', 'shared', 'trash', 'shortcuts'))
        .chain(([q, t, cursorId, v]) => fc.oneof(fc.constant(q), fc.constant(`?view=${v}&cursor=${cursorOf({ v, t, id: cursorId })}`)))
        .map((q) => ({ method: 'GET', path: `/api/files${q}`, headers: f.owner.auth })),
    examples: (f) => [
      { method: 'GET', path: '/api/files?q=%00', headers: f.owner.auth },
      { method: 'GET', path: `/api/files?cursor=${cursorOf({ v: 'owned', t: '0000-01-01T00:00:00.000Z', id: randomUUID() })}`, headers: f.owner.auth },
      { method: 'GET', path: `/api/files?cursor=${cursorOf({ v: 'owned', t: '+275760-09-13T00:00:00.000Z', id: randomUUID() })}`, headers: f.owner.auth },
      { method: 'GET', path: '/api/files?q=%ed%a0%80', headers: f.owner.auth },
      { method: 'GET', path: '/api/files?limit=1e400', headers: f.owner.auth },
    ],
  },
  'GET /api/files/:id': { requests: (f) => id(f).map((i) => ({ method: 'GET', path: `/api/files/${i}`, headers: f.owner.auth })) },
  'PATCH /api/files/:id': {
    requests: (f) => fc.tuple(id(f), jsonBody({ name: nastyString, visibility: fc.constantFrom('private', 'public') })).map(([i, body]) => ({ method: 'PATCH', path: `/api/files/${i}`, headers: json(f), body })),
    examples: (f) => [withJson(f, 'PATCH', `/api/files/${f.fileId}`, { name: 'a\u0000b' }), withJson(f, 'PATCH', `/api/files/${f.fileId}`, { name: '\ud800.txt' })],
  },
  'GET /api/files/:id/content': {
    requests: (f) => fc.tuple(id(f), fc.option(headerValue.map((v) => `bytes=${v}`))).map(([i, range]) => ({ method: 'GET', path: `/api/files/${i}/content`, headers: { ...f.owner.auth, ...(range ? { range } : {}) } })),
    examples: (f) => [{ method: 'GET', path: `/api/files/${f.fileId}/content`, headers: { ...f.owner.auth, range: 'bytes=99999999999999999999-' } }],
  },
  'DELETE /api/files/:id and restore': {
    requests: (f) => fc.tuple(urlPiece, fc.boolean()).map(([i, restore]) => (restore ? { method: 'POST', path: `/api/files/${i}/restore`, headers: f.owner.auth } : { method: 'DELETE', path: `/api/files/${i}`, headers: f.owner.auth })),
  },
  'GET /api/files/:id/shares': { requests: (f) => id(f).map((i) => ({ method: 'GET', path: `/api/files/${i}/shares`, headers: f.owner.auth })) },
  'POST /api/files/:id/shares': {
    requests: (f) => fc.tuple(id(f), jsonBody({ email, userId: fc.oneof(fc.uuid(), nastyString), role: fc.constantFrom('viewer', 'editor') })).map(([i, body]) => ({ method: 'POST', path: `/api/files/${i}/shares`, headers: json(f), body })),
    examples: (f) => [withJson(f, 'POST', `/api/files/${f.fileId}/shares`, { email: 'x\u0000@example.com', role: 'viewer' })],
  },
  'PUT|DELETE /api/files/:id/shares/:userId': {
    requests: (f) =>
      fc.tuple(id(f), urlPiece, fc.constantFrom('PUT', 'DELETE'), jsonBody({ role: fc.constantFrom('viewer', 'editor') })).map(([i, u, method, body]) => ({ method, path: `/api/files/${i}/shares/${u}`, headers: json(f), body: method === 'PUT' ? body : undefined })),
  },
  'POST /api/shortcuts': {
    requests: (f) => jsonBody({ fileId: fc.oneof(fc.constant(f.fileId), fc.uuid(), nastyString), name: nastyString }).map((body) => ({ method: 'POST', path: '/api/shortcuts', headers: json(f), body })),
    examples: (f) => [withJson(f, 'POST', '/api/shortcuts', { fileId: f.fileId, name: '\ud800' })],
  },
  'DELETE /api/shortcuts/:id': { requests: (f) => urlPiece.map((i) => ({ method: 'DELETE', path: `/api/shortcuts/${i}`, headers: f.owner.auth })) },
  'GET /api/public/files/:id[/content]': {
    requests: (f) => fc.tuple(id(f), fc.constantFrom('', '/content')).map(([i, tail]) => ({ method: 'GET', path: `/api/public/files/${i}${tail}` })),
  },
  'POST /api/uploads/s3/multipart': {
    requests: (f) =>
      jsonBody({ filename: nastyString, type: nastyString, metadata: fc.dictionary(fc.oneof(nastyConstant, fc.string({ maxLength: 8 })), jsonValue, { maxKeys: 4 }), size: nastyNumber }).map((body) => ({
        method: 'POST',
        path: '/api/uploads/s3/multipart',
        headers: json(f),
        body,
      })),
    examples: (f) => [
      { method: 'POST', path: '/api/uploads/s3/multipart', headers: json(f), body: '{"filename":"a.bin","metadata":{"constructor":"y"}}' },
      { method: 'POST', path: '/api/uploads/s3/multipart', headers: json(f), body: '{"filename":"a.bin","metadata":{"__proto__":"y"}}' },
      withJson(f, 'POST', '/api/uploads/s3/multipart', { filename: 'a.bin', metadata: { note: 'a\u0000b' } }),
      withJson(f, 'POST', '/api/uploads/s3/multipart', { filename: 'a\u0000.bin', metadata: {} }),
    ],
  },
  'GET /api/uploads/s3/multipart/:uploadId[/:partNumber|/batch]': {
    requests: (f) =>
      fc
        .tuple(fc.oneof(fc.constant(f.multipart.uploadId), urlPiece), fc.oneof(fc.constant(encodeText(f.multipart.key)), urlPiece), fc.constantFrom('', '/1', '/0', '/10001', '/abc', '/batch'), urlPiece)
        .map(([u, key, tail, numbers]) => ({ method: 'GET', path: `/api/uploads/s3/multipart/${u}${tail}?key=${key}${tail === '/batch' ? `&partNumbers=${numbers}` : ''}`, headers: f.owner.auth })),
  },
  'POST /api/uploads/s3/multipart/:uploadId/complete': {
    requests: (f) =>
      fc
        .tuple(fc.oneof(fc.constant(f.multipart.uploadId), urlPiece), jsonBody({ parts: fc.array(jsonObject({ PartNumber: nastyNumber, ETag: nastyString }), { maxLength: 3 }) }))
        .map(([u, body]) => ({ method: 'POST', path: `/api/uploads/s3/multipart/${u}/complete?key=${encodeText(f.multipart.key)}`, headers: json(f), body })),
  },
};

const tus = { 'tus-resumable': '1.0.0' };
const metadataOf = (pairs: Record<string, string>) => Object.entries(pairs).map(([k, v]) => `${k} ${Buffer.from(v).toString('base64')}`).join(',');
const tusRoutes: Record<string, Route> = {
  'POST /api/uploads/tus': {
    requests: (f) =>
      fc
        .record(
          {
            'upload-length': fc.oneof(headerValue, fc.nat().map(String)),
            'upload-metadata': uploadMetadata,
            'upload-defer-length': fc.oneof(fc.constant('1'), headerValue),
            'upload-checksum': headerValue,
            'upload-concat': headerValue,
            'tus-resumable': fc.oneof(fc.constant('1.0.0'), headerValue),
            'content-type': fc.constantFrom('application/offset+octet-stream', 'text/plain'),
          },
          { requiredKeys: ['tus-resumable'] },
        )
        .chain((headers) => fc.uint8Array({ maxLength: 32 }).map((body) => ({ method: 'POST', path: '/api/uploads/tus', headers: { ...f.owner.auth, ...headers }, body: Buffer.from(body) }))),
    examples: (f) => [
      { method: 'POST', path: '/api/uploads/tus', headers: { ...f.owner.auth, ...tus, 'upload-length': '3', 'upload-metadata': metadataOf({ filename: 'a\u0000b.txt' }) } },
      { method: 'POST', path: '/api/uploads/tus', headers: { ...f.owner.auth, ...tus, 'upload-length': '3', 'upload-metadata': metadataOf({ filetype: 'text/\u0000plain', note: '\u0000' }) } },
      { method: 'POST', path: '/api/uploads/tus', headers: { ...f.owner.auth, ...tus, 'upload-length': '99999999999999999999999' } },
    ],
  },
  'PATCH /api/uploads/tus/:id': {
    requests: (f) =>
      fc
        .tuple(
          fc.oneof(fc.constant(f.tusUrl), fc.constant(f.finishedTusUrl), urlPiece.map((p) => `/api/uploads/tus/${p}`)),
          fc.record(
            {
              'upload-offset': fc.oneof(headerValue, fc.constantFrom('0', '5', '-0', '00', '9007199254740993')),
              'content-type': fc.oneof(fc.constant('application/offset+octet-stream'), headerValue),
              'upload-checksum': fc.oneof(headerValue, fc.constantFrom('sha1 AAAA', 'sha256 ====', 'md5 not-base64!', 'crc32 AAAAAA==')),
              'upload-length': headerValue,
            },
            { requiredKeys: [] },
          ),
          fc.uint8Array({ maxLength: 16 }),
        )
        .map(([path, headers, body]) => ({ method: 'PATCH', path, headers: { ...f.owner.auth, ...tus, ...headers }, body: Buffer.from(body) })),
    examples: (f) => [
      // A PATCH at the final offset of a completed upload (S3 answered NoSuchUpload with a 500).
      { method: 'PATCH', path: f.finishedTusUrl, headers: { ...f.owner.auth, ...tus, 'content-type': 'application/offset+octet-stream', 'upload-offset': String(f.finishedLength) }, body: Buffer.alloc(0) },
      { method: 'PATCH', path: f.finishedTusUrl, headers: { ...f.owner.auth, ...tus, 'content-type': 'application/offset+octet-stream', 'upload-offset': String(f.finishedLength) }, body: Buffer.from('more') },
    ],
  },
  'HEAD|DELETE /api/uploads/tus/:id': {
    requests: (f) => fc.tuple(fc.constantFrom('HEAD', 'DELETE'), urlPiece, fc.oneof(fc.constant('1.0.0'), headerValue)).map(([method, p, version]) => ({ method, path: `/api/uploads/tus/${p}`, headers: { ...f.owner.auth, 'tus-resumable': version } })),
  },
};

// ---------------------------------------------------------------------------

async function fixture(system: RunningSystem): Promise<Fixture> {
  const owner = await registerAndLogin(system.baseUrl, 'Fuzz Owner');
  const bytes = Buffer.from(`fuzz ${randomUUID()}`);
  const created = await send(system.baseUrl, {
    method: 'POST',
    path: '/api/uploads/tus',
    headers: { ...owner.auth, ...tus, 'upload-length': String(bytes.length), 'upload-metadata': `filename ${Buffer.from('fuzz.txt').toString('base64')}`, 'content-type': 'application/offset+octet-stream' },
    body: bytes,
  });
  const fileId = created.headers['govault-file-id'];
  if (created.status !== 201 || typeof fileId !== 'string') throw new Error(`fixture upload answered ${created.status} ${created.text}`);
  // An incomplete tus upload for the PATCH/HEAD cases.
  const open = await send(system.baseUrl, { method: 'POST', path: '/api/uploads/tus', headers: { ...owner.auth, ...tus, 'upload-length': '10' } });
  const location = String(open.headers.location ?? '');
  const multipart = await postJson(`${system.baseUrl}/api/uploads/s3/multipart`, { filename: 'fuzz.bin', type: 'application/octet-stream', metadata: {} }, owner.auth);
  if (open.status !== 201 || multipart.status !== 200) throw new Error(`fixture uploads answered ${open.status} and ${multipart.status}`);
  return { system, owner, fileId, tusUrl: new URL(location).pathname, finishedTusUrl: new URL(String(created.headers.location)).pathname, finishedLength: bytes.length, multipart: multipart.body as { uploadId: string; key: string } };
}

const describe = (sent: Sent) =>
  JSON.stringify({ method: sent.method, path: sent.path, headers: Object.fromEntries(Object.entries(sent.headers ?? {}).map(([k, v]) => [k, /^authorization$/i.test(k) && !/^Bearer (?!ey)/.test(v) ? 'Bearer <token>' : v])), body: Buffer.isBuffer(sent.body) ? `<${sent.body.length} bytes: ${sent.body.toString('hex').slice(0, 80)}>` : sent.body?.slice(0, 400) });

/**
 * The property for one route: no 5xx, and a JSON-API error is the JSON error shape. The
 * route's `examples` (the attack report's cases) run first, then RUNS generated requests.
 * Returns what failed, or undefined.
 */
async function checkRoute(f: Fixture, name: string, route: Route, jsonApi: boolean): Promise<string | undefined> {
  let last: Answer | undefined;
  const details = await fc.check(
    fc.asyncProperty(route.requests(f), async (sent) => {
      const answer = await send(f.system.baseUrl, sent);
      last = answer;
      if (answer.status >= 500) return false;
      if (jsonApi && answer.status >= 400 && sent.method !== 'HEAD') {
        const body = JSON.parse(answer.text) as { error?: { code?: unknown; message?: unknown } };
        return typeof body.error?.code === 'string' && typeof body.error.message === 'string';
      }
      return true;
    }),
    { numRuns: RUNS, endOnFailure: true, examples: (route.examples?.(f) ?? []).map((sent) => [sent]) },
  );
  if (!details.failed) return undefined;
  const counterexample = details.counterexample?.[0] as Sent | undefined;
  return `${name}: ${counterexample ? describe(counterexample) : '?'} answered ${last?.status}: ${last?.text.slice(0, 300)}${details.errorInstance ? ` (${String(details.errorInstance)})` : ''}`;
}

for (const mode of availableModes()) {
  test.serial(`${mode}: generated input to every JSON route and tus header never gets a 5xx`, async (t) => {
    t.timeout(600_000);
    const system = await startSystem(mode, { RATE_LIMIT_MAX: '1000000', RATE_LIMIT_AUTH_MAX: '1000000' });
    t.teardown(() => system.stop());
    const f = await fixture(system);
    const failures: string[] = [];
    for (const [routes, jsonApi] of [[jsonRoutes, true], [tusRoutes, false]] as const) {
      for (const [name, route] of Object.entries(routes)) {
        const failure = await checkRoute(f, name, route, jsonApi);
        if (failure) failures.push(failure);
      }
    }
    t.deepEqual(failures, [], 'every route answers bad input with a 4xx');
    // The system still works for its user after all that.
    const list = await send(system.baseUrl, { method: 'GET', path: '/api/files', headers: f.owner.auth });
    t.is(list.status, 200);
  });
}
