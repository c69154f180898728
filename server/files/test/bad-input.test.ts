import test from 'ava';
import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { FileView } from '../src/index.ts';
import { call, createUser, json, newFile, startHarness, type ErrorBody, type Harness, type TestUser } from './support.ts';

/**
 * Every query, path and body field of the files routes with input PostgreSQL or the
 * parsers choke on (NUL, lone surrogates, dates outside PostgreSQL's range, huge
 * numbers, odd UUIDs, giant bodies): each is a 4xx JSON error or a plain answer, never a
 * 5xx, and nothing changes. Sent over real HTTP to the real service.
 */
let h: Harness;
let alice: TestUser;
let bob: TestUser;
let file: FileView;

test.before(async () => {
  h = await startHarness();
  [alice, bob] = (await Promise.all(['Alice', 'Bob'].map((n) => createUser(h, n)))) as [TestUser, TestUser];
  file = await newFile(h, alice.id, { name: 'keep.txt' });
});
test.after.always(async () => h?.stop());

const cursorOf = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Raw bytes on the wire: what fetch would re-encode (lone surrogates, broken escapes). */
function raw(method: string, path: string, userId: string): Promise<{ status: number; body: string }> {
  const url = new URL(h.files.url);
  const token = h.keys.issuerFor('gateway').issue('files', { userId });
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path, method, headers: { 'x-internal-token': token } }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('list queries: NUL, lone surrogates, odd cursors and limits are 400, never 500', async (t) => {
  const cursorAt = (v: string, t: unknown, id: unknown = randomUUID()) => `cursor=${cursorOf({ v, t, id })}`;
  const cases = (v: string): Array<[string, number]> => [
    ['q=%00', 400],
    ['q=a%00b', 400],
    ['q=%01', 400],
    ['q=%ED%A0%80', 200], // not UTF-8 (an encoded surrogate): decoded as U+FFFD, matches nothing
    ['q=' + 'x'.repeat(256), 400],
    ['q=%25', 200],
    ['q=%5C', 200],
    ['q=a&q=b', 400],
    [cursorAt(v, '0000-01-01T00:00:00Z'), 400],
    [cursorAt(v, '0000-12-31T23:59:59.999Z'), 400],
    [cursorAt(v, '0001-01-01T00:00:00Z'), 200],
    [cursorAt(v, '9999-12-31T23:59:59.999Z'), 200],
    [cursorAt(v, '2024-02-30T00:00:00Z'), 400],
    [cursorAt(v, '2024-01-01T00:00:00+02:00'), 400],
    [cursorAt(v, '+010000-01-01T00:00:00Z'), 400],
    [cursorAt(v, '-000001-01-01T00:00:00Z'), 400],
    [cursorAt(v, '2024-01-01T00:00:00.123456789Z'), 200],
    [cursorAt(v, 1e300), 400],
    [cursorAt(v, '\u0000'), 400],
    [cursorAt(v, '2024-01-01T00:00:00Z', `{${randomUUID()}}`), 400],
    [cursorAt(v, '2024-01-01T00:00:00Z', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'), 200],
    [`cursor=${Buffer.from(`{"v":"${v}","t":"2024-01-01T00:00:00Z","id":"\\ud800"}`).toString('base64url')}`, 400],
    [`cursor=${cursorOf('x'.repeat(600))}`, 400],
    ['cursor=%00', 400],
    ['limit=0', 400],
    ['limit=-1', 400],
    ['limit=101', 400],
    ['limit=1e400', 400],
    ['limit=99999999999999999999999', 400],
    ['limit=1.5', 400],
    ['limit=NaN', 400],
    ['limit=%00', 400],
    ['limit=1&limit=2', 400],
  ];
  for (const view of ['owned', 'shared', 'shortcuts', 'trash']) {
    for (const [query, status] of cases(view)) {
      const answer = await raw('GET', `/api/files?view=${view}&${query}`, alice.id);
      t.is(answer.status, status, `${view}: ${query.slice(0, 100)}`);
      if (status >= 400) t.like(JSON.parse(answer.body), { error: { code: 'validation_failed' } }, query);
    }
  }
  for (const query of ['view=%00', 'view=owned&view=trash', 'view=OWNED']) t.is((await raw('GET', `/api/files?${query}`, alice.id)).status, 400, query);
});

test('path ids: braces, NUL, broken escapes, overlong and other non-UUIDs are 400; upper case is the same id', async (t) => {
  const bad = ['%00', `%7B${file.id}%7D`, `${file.id}%00`, '%E0%A4%A', '%ED%A0%80', 'x'.repeat(5000), file.id.replaceAll('-', ''), `${file.id}0`];
  const routes: Array<[string, string]> = [['GET', ''], ['PATCH', ''], ['DELETE', ''], ['GET', '/content'], ['POST', '/restore'], ['GET', '/shares'], ['DELETE', `/shares/${bob.id}`]];
  for (const id of bad) {
    for (const [method, suffix] of routes) {
      const answer = await raw(method, `/api/files/${id}${suffix}`, alice.id);
      t.is(answer.status, 400, `${method} ${id.slice(0, 60)}${suffix}`);
      t.truthy(JSON.parse(answer.body).error?.code);
    }
    t.is((await raw('DELETE', `/api/shortcuts/${id}`, alice.id)).status, 400, `shortcut ${id.slice(0, 60)}`);
    t.is((await raw('GET', `/api/public/files/${id}`, alice.id)).status, 400, `public ${id.slice(0, 60)}`);
  }
  for (const grantee of ['%00', `%7B${bob.id}%7D`, 'a%40b', '%ED%A0%80%40example.test', `${'x'.repeat(400)}%40example.test`, '%E0%A4%A']) {
    t.is((await raw('DELETE', `/api/files/${file.id}/shares/${grantee}`, alice.id)).status, 400, grantee.slice(0, 60));
  }
  const upper = await json<FileView>(call(h, alice.id, `/api/files/${file.id.toUpperCase()}`));
  t.like(upper, { status: 200, body: { id: file.id, role: 'owner' } });
});

test('JSON fields: NUL, lone surrogates, huge numbers, odd UUIDs and giant bodies are 4xx, and nothing changes', async (t) => {
  const base = `/api/files/${file.id}`;
  const cases: Array<[string, string, string | object, number?]> = [
    ['PATCH', base, { name: 'a\u0000b' }],
    ['PATCH', base, '{"name":"\\ud800.txt"}'],
    ['PATCH', base, '{"name":"a\\udfff"}'],
    ['PATCH', base, { name: 1e400 }],
    ['PATCH', base, '{"name":"ok.txt","name":5}'],
    ['PATCH', base, '{"visibility":"public\\u0000"}'],
    ['PATCH', base, '['.repeat(30_000) + ']'.repeat(30_000)],
    ['PATCH', base, '{"__proto__":{"name":"x"}}'],
    ['PATCH', base, `{"name":"${'é'.repeat(40_000)}"}`, 413],
    ['POST', `${base}/shares`, { userId: '{' + bob.id + '}', role: 'viewer' }],
    ['POST', `${base}/shares`, { userId: bob.id + '\u0000', role: 'viewer' }],
    ['POST', `${base}/shares`, { email: 'a\u0000@example.test', role: 'viewer' }],
    ['POST', `${base}/shares`, '{"email":"\\ud800@example.test","role":"viewer"}'],
    ['POST', `${base}/shares`, { email: `${'a'.repeat(320)}@example.test`, role: 'viewer' }],
    ['POST', `${base}/shares`, { email: 'bob@example.test', role: 'viewer\u0000' }],
    ['POST', `${base}/shares`, { email: 'bob@example.test', role: 'viewer', extra: 1 }],
    ['PUT', `${base}/shares/${bob.id}`, { role: 1e400 }],
    ['POST', '/api/shortcuts', { fileId: file.id.toUpperCase() + '\u0000' }],
    ['POST', '/api/shortcuts', { fileId: file.id, name: '\u0000' }],
    ['POST', '/api/shortcuts', '{"fileId":"' + file.id + '","name":"\\udc00"}'],
    ['POST', '/api/shortcuts', { fileId: 123 }],
  ];
  for (const [method, path, body, status = 400] of cases) {
    const answer = await json<ErrorBody>(call(h, alice.id, path, { method, body }));
    t.is(answer.status, status, `${method} ${path} ${String(typeof body === 'string' ? body : JSON.stringify(body)).slice(0, 80)}`);
    t.truthy(answer.body?.error?.code);
  }
  t.like((await json(call(h, alice.id, base))).body, { name: 'keep.txt', visibility: 'private' }, 'nothing changed');
  t.deepEqual((await json<{ items: unknown[] }>(call(h, alice.id, `${base}/shares`))).body.items, [], 'nothing shared');
});

test('an upper-case UUID names the same file, user and shortcut as its lower-case form', async (t) => {
  const own = await newFile(h, alice.id, { name: 'upper.txt' });
  const granted = await json(call(h, alice.id, `/api/files/${own.id.toUpperCase()}/shares`, { method: 'POST', body: { userId: bob.id.toUpperCase(), role: 'viewer' } }));
  t.like(granted, { status: 201, body: { userId: bob.id } });
  t.like(await json(call(h, alice.id, `/api/files/${own.id}/shares`, { method: 'POST', body: { userId: bob.id, role: 'viewer' } })), { status: 409 });
  const shortcut = await json<{ shortcut: { id: string } }>(call(h, bob.id, '/api/shortcuts', { method: 'POST', body: { fileId: own.id.toUpperCase() } }));
  t.is(shortcut.status, 201);
  t.is((await call(h, bob.id, `/api/shortcuts/${shortcut.body.shortcut.id.toUpperCase()}`, { method: 'DELETE' })).status, 204);
  t.is((await call(h, alice.id, `/api/files/${own.id}/shares/${bob.id.toUpperCase()}`, { method: 'DELETE' })).status, 204);
});

test("the upload service's registration: NUL, lone surrogates and huge sizes are 400; an upper-case owner id is the same owner", async (t) => {
  const register = (fields: Record<string, unknown>, rawBody?: string) => {
    const uploadId = randomUUID().replaceAll('-', '');
    const body = rawBody ?? JSON.stringify({ uploadId, ownerId: alice.id, name: 'r.txt', size: 1, contentType: 'text/plain', storageKey: uploadId, ...fields });
    return fetch(`${h.files.url}/internal/files`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-internal-token': h.keys.issuerFor('upload').issue('files') },
      body,
    });
  };
  const bad: Array<Record<string, unknown>> = [
    { uploadId: 'a\u0000b' },
    { uploadId: '' },
    { contentType: 'text/plain\u0000' },
    { contentType: '\ud800' },
    { checksum: 'sha256 \udc00' },
    { size: 2 ** 53 },
    { size: -1 },
    { size: 1.5 },
    { size: '1' },
    { ownerId: `{${alice.id}}` },
    { storageKey: '../x' },
  ];
  for (const fields of bad) t.is((await register(fields)).status, 400, JSON.stringify(fields));
  t.is((await register({}, '{"size": 1e400}')).status, 400);

  const uploadId = randomUUID().replaceAll('-', '');
  const upper = { uploadId, storageKey: uploadId, ownerId: alice.id.toUpperCase() };
  const first = await register(upper);
  t.is(first.status, 201);
  t.like(await first.json(), { ownerId: alice.id });
  t.is((await register(upper)).status, 200, 'the retry of the same registration is the same file');
});
