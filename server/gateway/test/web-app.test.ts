import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import test from 'ava';
import { RawConnection, rawRequest } from './raw-http.ts';
import { accessToken, metricValue, standIn, startGateway, type StandIn, type TestGateway } from './support.ts';

/**
 * The web app as the gateway serves it, from a build folder of our own (a stand-in for
 * web/dist) with a secret file beside it that no request may ever read.
 */
const SECRET = 'TOP-SECRET-outside-the-build';
const INDEX = '<!doctype html><html><head><script type="module" src="/assets/app-3f9a1c.js"></script></head><body><div id="app"></div></body></html>';
const SCRIPT = `export const rows = ${JSON.stringify(Array.from({ length: 400 }, (_, i) => ({ name: `file ${i}`, size: i })))};\n`;
const STYLE = 'body { font-family: system-ui, sans-serif; }\n'.repeat(40);

let root: string;
let build: string;
let upstream: StandIn;
let gateway: TestGateway;

test.before(async () => {
  root = mkdtempSync(join(tmpdir(), 'govault-web-app-'));
  build = join(root, 'dist');
  mkdirSync(join(build, 'assets'), { recursive: true });
  writeFileSync(join(root, 'secret.txt'), SECRET);
  writeFileSync(join(build, 'index.html'), INDEX);
  writeFileSync(join(build, 'assets', 'app-3f9a1c.js'), SCRIPT);
  writeFileSync(join(build, 'assets', 'app-77e0b2.css'), STYLE);
  writeFileSync(join(build, 'assets', '.env'), SECRET);
  writeFileSync(join(build, 'robots.txt'), 'User-agent: *\n');
  symlinkSync(join(root, 'secret.txt'), join(build, 'assets', 'link.txt'));
  upstream = await standIn();
  gateway = await gatewayOn(build);
});
test.after.always(async () => {
  await gateway?.close();
  await upstream?.close();
  rmSync(root, { recursive: true, force: true });
});

function gatewayOn(dir: string, env: Record<string, string> = {}): Promise<TestGateway> {
  return startGateway({ AUTH_URL: upstream.url, FILES_URL: upstream.url, UPLOAD_URL: upstream.url, LOG_LEVEL: 'silent', WEB_APP_DIR: dir, ...env });
}

/** A request whose path goes out exactly as written (fetch would normalise `..` and `\`). */
function get(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: gateway.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

const APP_ROUTES = ['/', '/login', '/register', '/shared', '/shortcuts', '/trash', '/uploads', `/p/${randomUUID()}`];

test('every route of the app answers index.html, revalidated on each visit', async (t) => {
  for (const path of APP_ROUTES) {
    const res = await get(path);
    t.is(res.status, 200, path);
    t.is(res.body.toString(), INDEX, path);
    t.is(res.headers['content-type'], 'text/html; charset=utf-8', path);
    t.is(res.headers['cache-control'], 'no-cache', path);
  }
});

test('paths that are not the app\'s routes do not get index.html', async (t) => {
  for (const path of ['/files', '/shared/', '/Shared', '/p/', '/p/a/b', '/p/..', '/login.php', '/uploads/x']) {
    const res = await get(path);
    t.not(res.body.toString(), INDEX, path);
    t.true([401, 404].includes(res.status), `${path}: ${res.status}`);
    t.regex(res.headers['content-type'] as string, /^application\/json/, path);
  }
  const post = await get('/', { 'content-type': 'text/plain' }, 'POST');
  t.not(post.body.toString(), INDEX, 'POST / is no page');
  t.true([401, 404].includes(post.status));
});

test('hashed assets come with their content type and a year of immutable caching; other files are revalidated', async (t) => {
  const script = await get('/assets/app-3f9a1c.js');
  t.is(script.status, 200);
  t.is(script.body.toString(), SCRIPT);
  t.is(script.headers['content-type'], 'text/javascript; charset=utf-8');
  t.is(script.headers['cache-control'], 'public, max-age=31536000, immutable');
  t.is(script.headers['x-content-type-options'], 'nosniff');
  const style = await get('/assets/app-77e0b2.css');
  t.is(style.headers['content-type'], 'text/css; charset=utf-8');
  t.is(style.body.toString(), STYLE);
  const robots = await get('/robots.txt');
  t.is(robots.status, 200);
  t.is(robots.headers['content-type'], 'text/plain; charset=utf-8');
  t.is(robots.headers['cache-control'], 'no-cache');
  t.is((await get('/assets/missing-123.js')).status, 404);
});

test('a client that has the file gets 304 for its ETag', async (t) => {
  for (const path of ['/assets/app-3f9a1c.js', '/shared']) {
    const first = await get(path);
    const etag = first.headers.etag as string;
    t.truthy(etag, path);
    const again = await get(path, { 'if-none-match': etag });
    t.is(again.status, 304, path);
    t.is(again.body.length, 0);
  }
});

test('HEAD answers the headers of GET and no content', async (t) => {
  for (const path of ['/', '/assets/app-3f9a1c.js']) {
    const head = await get(path, {}, 'HEAD');
    const full = await get(path);
    t.is(head.status, 200, path);
    t.is(head.body.length, 0);
    t.is(head.headers['content-length'], full.headers['content-length'], path);
    t.is(head.headers['content-type'], full.headers['content-type'], path);
    t.is(head.headers.etag, full.headers.etag, path);
  }
});

test('gzip and brotli for clients that accept them, the plain bytes for the others', async (t) => {
  const gz = await get('/assets/app-3f9a1c.js', { 'accept-encoding': 'gzip' });
  t.is(gz.headers['content-encoding'], 'gzip');
  t.is(gunzipSync(gz.body).toString(), SCRIPT);
  t.true(gz.body.length < SCRIPT.length / 3, `gzip: ${gz.body.length} of ${SCRIPT.length} bytes`);
  t.regex(gz.headers.vary as string, /Accept-Encoding/i);

  const br = await get('/assets/app-3f9a1c.js', { 'accept-encoding': 'gzip, deflate, br' });
  t.is(br.headers['content-encoding'], 'br');
  t.is(brotliDecompressSync(br.body).toString(), SCRIPT);
  t.not(br.headers.etag, gz.headers.etag, 'each form has its own validator');

  const onlyGzip = await get('/', { 'accept-encoding': 'br;q=0, gzip' });
  t.is(onlyGzip.headers['content-encoding'], 'gzip');
  t.is(gunzipSync(onlyGzip.body).toString(), INDEX);

  const plain = await get('/assets/app-3f9a1c.js', { 'accept-encoding': 'identity' });
  t.is(plain.headers['content-encoding'], undefined);
  t.is(plain.body.toString(), SCRIPT);
});

test('no spelling of a path reaches a file outside the build, a hidden file or a link', async (t) => {
  const attempts = [
    '/assets/../../secret.txt',
    '/../secret.txt',
    '/assets/%2e%2e/%2e%2e/secret.txt',
    '/assets/%2E%2E%2F%2E%2E%2Fsecret.txt',
    '/assets/..%2f..%2fsecret.txt',
    '/assets/..%5c..%5csecret.txt',
    '/assets\\..\\..\\secret.txt',
    '/assets/%252e%252e/%252e%252e/secret.txt',
    '/assets/%00../../secret.txt',
    '/assets/app-3f9a1c.js%00.txt',
    '//secret.txt',
    '/assets//../../secret.txt',
    '/assets/./../../secret.txt',
    '/assets/link.txt',
    '/assets/.env',
    '/assets/',
    '/assets',
    `/p/..%2f..%2fsecret.txt`,
  ];
  for (const path of attempts) {
    const res = await get(path);
    t.true([400, 401, 404].includes(res.status), `${path}: ${res.status}`);
    t.false(res.body.toString().includes(SECRET), path);
  }
  // A raw NUL or a raw backslash in the request line: refused before any lookup.
  for (const path of ['/assets/\0../../secret.txt', '/assets/..\\..\\secret.txt']) {
    const conn = await RawConnection.open(gateway.port);
    conn.write(rawRequest('GET', path, [['Host', '127.0.0.1']]));
    const res = await conn.response();
    conn.destroy();
    t.true(res === undefined || [400, 401, 404].includes(res.status), JSON.stringify(path));
    t.false(res?.body.includes(SECRET) ?? false, JSON.stringify(path));
  }
});

test('/api is the API: unknown paths keep their JSON 401 and 404, known ones reach the service', async (t) => {
  const anonymous = await get('/api/nothing-here');
  t.is(anonymous.status, 401);
  t.regex(anonymous.headers['content-type'] as string, /^application\/json/);
  const token = { authorization: `Bearer ${accessToken(randomUUID())}` };
  const unknown = await get('/api/nothing-here', token);
  t.is(unknown.status, 404);
  t.is((JSON.parse(unknown.body.toString()) as { error: { code: string } }).error.code, 'not_found');
  for (const path of ['/api/', '/api/index.html', '/api/assets/app-3f9a1c.js']) {
    const res = await get(path, token);
    t.is(res.status, 404, path);
    t.not(res.body.toString(), INDEX, path);
  }
  const listed = await get('/api/files', token);
  t.is(listed.status, 200);
  t.deepEqual(Object.keys(JSON.parse(listed.body.toString()) as object), ['ok', 'port'], 'the stand-in answered');
});

test('the pages carry a strict CSP: scripts from self only, nothing inline, blob: images; the API keeps helmet\'s', async (t) => {
  const csp = directives((await get('/')).headers['content-security-policy'] as string);
  t.deepEqual(csp['script-src'], ["'self'"]);
  t.deepEqual(csp['script-src-attr'], ["'none'"]);
  t.deepEqual(csp['object-src'], ["'none'"]);
  t.deepEqual(csp['default-src'], ["'self'"]);
  t.deepEqual(csp['base-uri'], ["'self'"]);
  t.deepEqual(csp['frame-ancestors'], ["'self'"]);
  t.deepEqual(csp['form-action'], ["'self'"]);
  t.deepEqual(csp['img-src'], ["'self'", 'data:', 'blob:']);
  t.deepEqual(csp['connect-src'], ["'self'"], 'embedded mode: the API and part URLs are same-origin');
  t.false('upgrade-insecure-requests' in csp, 'served over plain http');
  t.false(Object.values(csp).some((values) => values.includes('*')));

  const api = directives((await get('/api/nothing-here')).headers['content-security-policy'] as string);
  t.deepEqual(api['img-src'], ["'self'", 'data:'], 'helmet\'s own policy on JSON answers');
});

test('in S3 mode the pages may connect to the public S3 origin, and to nothing else', async (t) => {
  const s3 = await gatewayOn(build, { S3_ENDPOINT: 'http://10.0.0.5:9000/', S3_PUBLIC_ENDPOINT: 'https://s3.example.com:8443/some/path', S3_BUCKET: 'vault' });
  t.teardown(() => s3.close());
  const csp = directives((await fetch(`${s3.base}/trash`)).headers.get('content-security-policy')!);
  t.deepEqual(csp['connect-src'], ["'self'", 'https://s3.example.com:8443']);

  const virtualHosted = await gatewayOn(build, { S3_ENDPOINT: 'https://s3.eu-west-1.amazonaws.com', S3_BUCKET: 'vault', S3_FORCE_PATH_STYLE: 'false' });
  t.teardown(() => virtualHosted.close());
  const vh = directives((await fetch(`${virtualHosted.base}/`)).headers.get('content-security-policy')!);
  t.deepEqual(vh['connect-src'], ["'self'", 'https://vault.s3.eu-west-1.amazonaws.com']);
});

test('behind a TLS proxy the pages also upgrade insecure requests', async (t) => {
  const proxied = await gatewayOn(build, { TRUST_PROXY_HOPS: '1' });
  t.teardown(() => proxied.close());
  const res = await fetch(`${proxied.base}/`, { headers: { 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.9' } });
  t.true('upgrade-insecure-requests' in directives(res.headers.get('content-security-policy')!));
});

test('metrics label every page and every asset with one name each', async (t) => {
  const own = await gatewayOn(build);
  t.teardown(() => own.close());
  for (let i = 0; i < 20; i++) await fetch(`${own.base}/assets/made-up-${i}.js`);
  for (let i = 0; i < 3; i++) await fetch(`${own.base}/p/${randomUUID()}`);
  await fetch(`${own.base}/assets/app-3f9a1c.js`);
  t.is(await metricValue(own.base, 'http_requests_total', { route: 'web-asset', status: '404' }), 20);
  t.is(await metricValue(own.base, 'http_requests_total', { route: 'web-asset', status: '200' }), 1);
  t.is(await metricValue(own.base, 'http_requests_total', { route: 'web-app', status: '200' }), 3);
  const text = await (await fetch(`${own.metricsBase}/metrics`)).text();
  t.false(text.includes('made-up-'), 'no label per path');
  t.false(text.includes('route="/p/'), 'no label per public file');
});

test('with no build the pages say what to run, and the app appears once it is built', async (t) => {
  const dir = join(root, 'not-built-yet');
  mkdirSync(dir);
  const empty = await startGateway({ AUTH_URL: upstream.url, FILES_URL: upstream.url, UPLOAD_URL: upstream.url, WEB_APP_DIR: dir });
  t.teardown(() => empty.close());
  const res = await fetch(`${empty.base}/shared`);
  t.is(res.status, 503);
  t.regex(res.headers.get('content-type')!, /^text\/html/);
  t.regex(await res.text(), /npm run build -w web/);
  t.is((await fetch(`${empty.base}/assets/app-3f9a1c.js`)).status, 404);
  t.true(empty.logLines.some((line) => line.level === 40 && /web app not built.*npm run build -w web/.test(String(line.msg))), 'a log line says what to run');
  t.is((await fetch(`${empty.base}/healthz`)).status, 200, 'the gateway itself is up');

  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'assets', 'app-3f9a1c.js'), SCRIPT);
  writeFileSync(join(dir, 'index.html'), INDEX);
  const deadline = Date.now() + 5_000;
  let status = 0;
  while (Date.now() < deadline && status !== 200) {
    await new Promise((r) => setTimeout(r, 200));
    status = (await fetch(`${empty.base}/shared`)).status;
  }
  t.is(status, 200, 'the new build is served without a restart');
  t.is(await (await fetch(`${empty.base}/assets/app-3f9a1c.js`)).text(), SCRIPT);
});

test('a folder that is missing altogether is the same "not built", never a crash', async (t) => {
  const missing = await startGateway({ AUTH_URL: upstream.url, FILES_URL: upstream.url, UPLOAD_URL: upstream.url, LOG_LEVEL: 'silent', WEB_APP_DIR: join(root, 'no-such-folder') });
  t.teardown(() => missing.close());
  t.is((await fetch(`${missing.base}/`)).status, 503);
  t.is((await fetch(`${missing.base}/healthz`)).status, 200);
});

function directives(header: string): Record<string, string[]> {
  return Object.fromEntries(
    header
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .filter((parts) => parts[0])
      .map(([name, ...values]) => [name!, values]),
  );
}
