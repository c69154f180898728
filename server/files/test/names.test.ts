import test from 'ava';
import { randomUUID } from 'node:crypto';
import type { FileView } from '../src/index.ts';
import { call, createUser, json, newFile, startHarness, type ErrorBody, type Harness, type TestUser } from './support.ts';

/**
 * Deceptive names (bidi overrides, nothing visible) are refused everywhere a name comes
 * in: rename, shortcut names, and the upload service's registration; honest names in any
 * script still pass. Real HTTP to the real service.
 */
let h: Harness;
let alice: TestUser;

test.before(async () => {
  h = await startHarness();
  alice = await createUser(h, 'Alice');
});
test.after.always(async () => h?.stop());

const deceptive = [
  'invoice\u202Efdp.exe', // shows as "invoiceexe.pdf"
  'report\u202Dx.txt',
  '\u2066photo\u2069.jpg',
  'a\u200F.txt',
  'a\u200E.txt',
  'a\u061C.txt',
  '\u200B',
  '\u200B\u200C\u200D',
  '\uFEFF',
  '\u2060',
  '\u3164',
  '\u2800',
  '\u115F\u1160',
  '\u00A0',
  '\u3000',
  '\u0301',
  '\u180E',
  '\u{E0020}\u{E0041}',
  '\u00AD',
];

const honest = ['Reisebericht München.txt', 'تقرير.pdf', 'דוח.txt', 'e\u0301te\u0301.txt', '👩‍💻 notes.md', '東京 2024.png', 'a\u00A0b.txt', 'x'];

const rename = (id: string, name: string) => json<ErrorBody>(call(h, alice.id, `/api/files/${id}`, { method: 'PATCH', body: { name } }));

test('a rename to a deceptive name is refused and the name stays', async (t) => {
  const file = await newFile(h, alice.id, { name: 'plain.txt' });
  for (const name of deceptive) {
    t.like(await rename(file.id, name), { status: 400, body: { error: { code: 'validation_failed' } } }, JSON.stringify(name));
  }
  t.like((await json<FileView>(call(h, alice.id, `/api/files/${file.id}`))).body, { name: 'plain.txt' });
  for (const name of honest) t.like(await rename(file.id, name), { status: 200, body: { name } }, JSON.stringify(name));
});

test('a shortcut with a deceptive name is refused', async (t) => {
  for (const name of deceptive) {
    const file = await newFile(h, alice.id);
    const answer = await json<ErrorBody>(call(h, alice.id, '/api/shortcuts', { method: 'POST', body: { fileId: file.id, name } }));
    t.like(answer, { status: 400, body: { error: { code: 'validation_failed' } } }, JSON.stringify(name));
  }
  const file = await newFile(h, alice.id);
  const ok = await json<{ shortcut: { name: string } }>(call(h, alice.id, '/api/shortcuts', { method: 'POST', body: { fileId: file.id, name: 'تقرير ✓' } }));
  t.like(ok, { status: 201, body: { shortcut: { name: 'تقرير ✓' } } });
});

test("the upload service's registration of a deceptive name is refused (the upload service cleans names first)", async (t) => {
  const register = (name: string) => {
    const uploadId = randomUUID();
    return fetch(`${h.files.url}/internal/files`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-internal-token': h.keys.issuerFor('upload').issue('files') },
      body: JSON.stringify({ uploadId, ownerId: alice.id, name, size: 1, contentType: 'text/plain', storageKey: uploadId }),
    });
  };
  for (const name of deceptive) {
    const answer = await register(name);
    t.is(answer.status, 400, JSON.stringify(name));
    t.like(await answer.json(), { error: { code: 'validation_failed' } });
  }
  t.is((await register('invoice.pdf')).status, 201);
});
