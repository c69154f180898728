import test from 'ava';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { normalizeEmail } from '@govault/lib';
import { openTestBucket, testS3 } from '@govault/lib/testing';
import type { FileView, ShortcutItem } from '../src/index.ts';
import { call, createUser, json, listAll, newFile, startHarness, type ErrorBody, type Harness, type TestUser } from './support.ts';

/** Sharing, shortcuts, trash and input validation over real HTTP, with the real auth service. */
let h: Harness;
let alice: TestUser;
let bob: TestUser;
let carol: TestUser;

test.before(async () => {
  h = await startHarness();
  const users = await Promise.all(['Alice', 'Bob', 'Carol'].map((n) => createUser(h, n)));
  [alice, bob, carol] = users as [TestUser, TestUser, TestUser];
});
test.after.always(async () => h?.stop());

const ids = (items: Array<{ id: string }>) => items.map((i) => i.id);

// --- sharing ---------------------------------------------------------------------------

interface ShareItem {
  userId: string | null;
  email: string | null;
  displayName: string | null;
  role: string;
  status: string;
}

test('the owner shares by email or id, changes the role, lists and revokes; the grantee sees the file in view=shared', async (t) => {
  // A user of this test alone: any request of the invitee claims the invitation.
  const bob = await createUser(h, 'Bob');
  const file = await newFile(h, alice.id, { name: 'plan.txt' });
  const byEmail = await json(call(h, alice.id, `/api/files/${file.id}/shares`, { method: 'POST', body: { email: bob.email.toUpperCase(), role: 'viewer' } }));
  t.is(byEmail.status, 201);
  t.deepEqual(
    { ...(byEmail.body as object), createdAt: 0 },
    { userId: null, email: normalizeEmail(bob.email), displayName: null, role: 'viewer', status: 'pending', createdAt: 0 },
    'an invitation, whether or not the address is registered',
  );
  const byId = await json(call(h, alice.id, `/api/files/${file.id}/shares`, { method: 'POST', body: { userId: carol.id, role: 'editor' } }));
  t.like(byId, { status: 201, body: { userId: carol.id, email: null, displayName: null, role: 'editor', status: 'active' } });

  const list = async () => (await json<{ items: ShareItem[] }>(call(h, alice.id, `/api/files/${file.id}/shares`))).body.items;
  t.deepEqual((await list()).map((s) => [s.userId, s.email, s.role, s.status]), [
    [null, normalizeEmail(bob.email), 'viewer', 'pending'],
    [carol.id, null, 'editor', 'active'],
  ]);

  // Bob shows up: the invitation becomes his share.
  const mine = async () => (await listAll(h, bob.id, 'view=shared')).flat().filter((f) => f.id === file.id);
  t.deepEqual((await mine()).map((f) => [f.id, f.role]), [[file.id, 'viewer']]);
  t.deepEqual((await list()).map((s) => [s.userId, s.email, s.role, s.status]), [
    [carol.id, null, 'editor', 'active'],
    [bob.id, normalizeEmail(bob.email), 'viewer', 'active'],
  ]);

  const changed = await json(call(h, alice.id, `/api/files/${file.id}/shares/${bob.id}`, { method: 'PUT', body: { role: 'editor' } }));
  t.like(changed, { status: 200, body: { userId: bob.id, role: 'editor', status: 'active' } });
  t.like((await json(call(h, bob.id, `/api/files/${file.id}`))).body, { role: 'editor' });

  t.is((await call(h, alice.id, `/api/files/${file.id}/shares/${bob.id}`, { method: 'DELETE' })).status, 204);
  t.is((await call(h, bob.id, `/api/files/${file.id}`)).status, 404);
  t.deepEqual(await mine(), []);
  t.is((await call(h, alice.id, `/api/files/${file.id}/shares/${bob.id}`, { method: 'DELETE' })).status, 404);
  t.is((await call(h, alice.id, `/api/files/${file.id}/shares/${bob.id}`, { method: 'PUT', body: { role: 'viewer' } })).status, 404);
});

test('sharing refuses the owner by id, unknown user ids and a second grant to the same user or address', async (t) => {
  const file = await newFile(h, alice.id);
  const share = (body: unknown) => json<ErrorBody>(call(h, alice.id, `/api/files/${file.id}/shares`, { method: 'POST', body }));
  t.like(await share({ userId: alice.id, role: 'viewer' }), { status: 400, body: { error: { code: 'validation_failed' } } });
  t.like(await share({ userId: randomUUID(), role: 'viewer' }), { status: 404, body: { error: { code: 'not_found' } } });
  t.is((await share({ userId: bob.id, role: 'viewer' })).status, 201);
  t.like(await share({ userId: bob.id, role: 'editor' }), { status: 409, body: { error: { code: 'conflict' } } });
  const stranger = `nobody-${randomUUID()}@example.test`;
  t.is((await share({ email: stranger, role: 'viewer' })).status, 201);
  t.like(await share({ email: stranger.toUpperCase(), role: 'editor' }), { status: 409, body: { error: { code: 'conflict' } } });
});

test('with auth unreachable a grant answers 503, and nothing is shared', async (t) => {
  const lonely = await h.startFiles({ AUTH_URL: 'http://127.0.0.1:9' });
  const file = await newFile(h, alice.id);
  const answer = await call(h, alice.id, `/api/files/${file.id}/shares`, { method: 'POST', body: { userId: bob.id, role: 'viewer' }, base: lonely.url });
  t.is(answer.status, 503);
  t.truthy(answer.headers.get('retry-after'));
  t.like(await answer.json(), { error: { code: 'upstream_unavailable' } });
  t.is((await call(h, bob.id, `/api/files/${file.id}`)).status, 404);
});

// --- shortcuts -------------------------------------------------------------------------

test('a shortcut is listed with the file, and drops out of view when the target is trashed, made private or unshared', async (t) => {
  const shared = await newFile(h, alice.id, { name: 'shared.txt' });
  const open = await newFile(h, alice.id, { name: 'open.txt' });
  await call(h, alice.id, `/api/files/${shared.id}/shares`, { method: 'POST', body: { userId: bob.id, role: 'viewer' } });
  await call(h, alice.id, `/api/files/${open.id}`, { method: 'PATCH', body: { visibility: 'public' } });

  const first = await json<ShortcutItem>(call(h, bob.id, '/api/shortcuts', { method: 'POST', body: { fileId: shared.id, name: 'From Alice' } }));
  t.is(first.status, 201);
  t.like(first.body, { id: shared.id, role: 'viewer', shortcut: { name: 'From Alice' } });
  const second = await json<ShortcutItem>(call(h, bob.id, '/api/shortcuts', { method: 'POST', body: { fileId: open.id } }));
  t.like(second.body, { id: open.id, role: 'public', shortcut: { name: 'open.txt' } });
  t.like(await json(call(h, bob.id, '/api/shortcuts', { method: 'POST', body: { fileId: open.id } })), { status: 409 });

  const view = async () => (await listAll<ShortcutItem>(h, bob.id, 'view=shortcuts&limit=1')).flat();
  t.deepEqual((await view()).map((i) => [i.id, i.shortcut.id]), [[open.id, second.body.shortcut.id], [shared.id, first.body.shortcut.id]]);
  t.deepEqual(ids((await listAll<ShortcutItem>(h, bob.id, 'view=shortcuts&q=alice')).flat()), [shared.id]);

  await call(h, alice.id, `/api/files/${shared.id}`, { method: 'DELETE' });
  t.deepEqual(ids(await view()), [open.id], 'trashed target');
  await call(h, alice.id, `/api/files/${shared.id}/restore`, { method: 'POST' });
  t.deepEqual(ids(await view()), [open.id, shared.id], 'restored target');
  await call(h, alice.id, `/api/files/${shared.id}/shares/${bob.id}`, { method: 'DELETE' });
  t.deepEqual(ids(await view()), [open.id], 'access revoked');
  await call(h, alice.id, `/api/files/${open.id}`, { method: 'PATCH', body: { visibility: 'private' } });
  t.deepEqual(ids(await view()), [], 'private again');
  await call(h, alice.id, `/api/files/${open.id}`, { method: 'PATCH', body: { visibility: 'public' } });
  t.deepEqual(ids(await view()), [open.id], 'public again');

  t.is((await call(h, carol.id, `/api/shortcuts/${second.body.shortcut.id}`, { method: 'DELETE' })).status, 404, "not Carol's shortcut");
  t.is((await call(h, bob.id, `/api/shortcuts/${second.body.shortcut.id}`, { method: 'DELETE' })).status, 204);
  t.deepEqual(await view(), []);
});

// --- trash -----------------------------------------------------------------------------

test('trash, restore and permanent delete; the object and its tus sidecar leave the disk', async (t) => {
  const file = await newFile(h, alice.id, { name: 'draft.txt' });
  await call(h, alice.id, `/api/files/${file.id}/shares`, { method: 'POST', body: { userId: bob.id, role: 'viewer' } });
  t.is((await call(h, alice.id, `/api/files/${file.id}`, { method: 'DELETE' })).status, 204);
  t.deepEqual(ids((await listAll(h, alice.id, 'view=trash')).flat()).filter((id) => id === file.id), [file.id]);
  t.false(ids((await listAll(h, alice.id, 'view=owned')).flat()).includes(file.id));
  t.like((await json<FileView>(call(h, alice.id, `/api/files/${file.id}`))).body, { role: 'owner' });
  t.truthy((await json<FileView>(call(h, alice.id, `/api/files/${file.id}`))).body.deletedAt);

  const restored = await json<FileView>(call(h, alice.id, `/api/files/${file.id}/restore`, { method: 'POST' }));
  t.like(restored, { status: 200, body: { id: file.id, deletedAt: null } });
  t.like((await json(call(h, bob.id, `/api/files/${file.id}`))).body, { role: 'viewer' }, 'shares survive the trash');

  const key = await storageKeyOf(file.id);
  t.is((await call(h, alice.id, `/api/files/${file.id}/permanent`, { method: 'DELETE' })).status, 204);
  t.false(existsSync(join(h.storageDir, key)));
  t.false(existsSync(join(h.storageDir, `${key}.json`)));
  t.is((await call(h, alice.id, `/api/files/${file.id}`)).status, 404);
  t.is((await call(h, bob.id, `/api/files/${file.id}`)).status, 404);
  const leftovers = await h.sql.query('SELECT 1 FROM files.shares WHERE file_id = $1 UNION ALL SELECT 1 FROM files.object_deletions WHERE storage_key = $2', [file.id, key]);
  t.is(leftovers.rowCount, 0);
});

// Registered only where S3 is configured; CI requires it, so there it always runs.
const real = testS3();
if (real) test('S3 mode: permanent delete removes the object and the tus .info beside it', async (t) => {
  const s3App = await h.startFiles(real.env);
  const client = await openTestBucket(real);
  t.teardown(() => client.destroy());
  const file = await newFile(h, alice.id, { name: 'in-s3.txt' });
  const key = await storageKeyOf(file.id);
  for (const Key of [key, `${key}.info`]) await client.send(new PutObjectCommand({ Bucket: real.bucket, Key, Body: 'bytes' }));

  await call(h, alice.id, `/api/files/${file.id}`, { method: 'PATCH', body: { visibility: 'public' }, base: s3App.url });
  const link = await call(h, undefined, `/api/public/files/${file.id}/content`, { base: s3App.url });
  t.is(link.status, 302);
  t.is(await (await fetch(link.headers.get('location')!)).text(), 'bytes');

  t.is((await call(h, alice.id, `/api/files/${file.id}/permanent`, { method: 'DELETE', base: s3App.url })).status, 204);
  for (const Key of [key, `${key}.info`]) {
    const gone = await client.send(new HeadObjectCommand({ Bucket: real.bucket, Key })).then(() => false, (err: Error) => err.name === 'NotFound');
    t.true(gone, `${Key} is gone from the bucket`);
  }
  await t.throwsAsync(client.send(new GetObjectCommand({ Bucket: real.bucket, Key: key })));
});

test('a failed object delete hides the file at once and is retried until the object is gone', async (t) => {
  // A storage folder that is a regular file: every unlink under it fails (ENOTDIR), even as root.
  const broken = join(mkdtempSync(join(tmpdir(), 'govault-broken-')), 'not-a-dir');
  writeFileSync(broken, '');
  const failing = await h.startFiles({ STORAGE_DIR: broken });
  const file = await newFile(h, alice.id);
  const key = await storageKeyOf(file.id);

  t.is((await call(h, alice.id, `/api/files/${file.id}/permanent`, { method: 'DELETE', base: failing.url })).status, 204);
  t.is((await call(h, alice.id, `/api/files/${file.id}`)).status, 404, 'no row points at the object any more');
  const queued = await h.sql.query<{ attempts: number; last_error: string }>('SELECT attempts, last_error FROM files.object_deletions WHERE storage_key = $1', [key]);
  t.like(queued.rows[0], { attempts: 1 });
  t.regex(queued.rows[0]!.last_error, /ENOTDIR/);
  t.true(existsSync(join(h.storageDir, key)));

  // The retry is due one second later; the housekeeping of a healthy instance deletes it.
  await new Promise((r) => setTimeout(r, 1100));
  await h.files.built.housekeeping.runOnce();
  t.false(existsSync(join(h.storageDir, key)));
  t.is((await h.sql.query('SELECT 1 FROM files.object_deletions WHERE storage_key = $1', [key])).rowCount, 0);
});

test('the purge deletes files in the trash longer than the retention period, and only those', async (t) => {
  // Retention reaches back to 2000-06-01 so that no other suite's trashed files (which may
  // share the database in real mode) are old enough.
  const retention = Math.floor((Date.now() - Date.parse('2000-06-01T00:00:00Z')) / 1000);
  const purger = await h.startFiles({ TRASH_RETENTION_SECONDS: String(retention) });
  const old = await newFile(h, alice.id);
  const recent = await newFile(h, alice.id);
  const kept = await newFile(h, alice.id);
  await h.sql.query(`UPDATE files.files SET created_at = '1999-01-01', deleted_at = '2000-01-01' WHERE id = $1`, [old.id]);
  await h.sql.query(`UPDATE files.files SET created_at = '1999-01-01', deleted_at = '2001-01-01' WHERE id = $1`, [recent.id]);
  const oldKey = await storageKeyOf(old.id);

  const result = await purger.built.housekeeping.runOnce();
  t.true(result.purged >= 1);
  t.is((await call(h, alice.id, `/api/files/${old.id}`)).status, 404);
  t.false(existsSync(join(h.storageDir, oldKey)));
  t.is((await call(h, alice.id, `/api/files/${recent.id}`)).status, 200);
  t.is((await call(h, alice.id, `/api/files/${kept.id}`)).status, 200);
});

// --- pagination ------------------------------------------------------------------------

test('paging through owned and shared views while files are added concurrently: no duplicates, no gaps', async (t) => {
  const owner = await createUser(h, 'Pager');
  const before: string[] = [];
  for (let i = 0; i < 23; i++) {
    const file = await newFile(h, owner.id, { name: `p-${i}.txt` });
    await call(h, owner.id, `/api/files/${file.id}/shares`, { method: 'POST', body: { userId: carol.id, role: 'viewer' } });
    before.push(file.id);
  }
  let added = 0;
  const addOne = async () => {
    const file = await newFile(h, owner.id, { name: `late-${added++}.txt` });
    await call(h, owner.id, `/api/files/${file.id}/shares`, { method: 'POST', body: { userId: carol.id, role: 'viewer' } });
  };
  const owned = (await listAll(h, owner.id, 'view=owned&limit=4', addOne)).flat();
  t.deepEqual(ids(owned), [...before].reverse(), 'the newest-first snapshot at the start, exactly once each');
  const sharedIds = ids((await listAll(h, carol.id, 'view=shared&limit=5', addOne)).flat());
  const expected = ids((await listAll(h, owner.id, 'view=owned&limit=100')).flat());
  t.is(new Set(sharedIds).size, sharedIds.length, 'no duplicates');
  // Shares made before the listing started are all there, in order; later ones do not interleave.
  t.deepEqual(sharedIds.filter((id) => before.includes(id)), [...before].reverse());
  t.true(added > 5);
  t.true(expected.length === before.length + added);
});

// --- bad input -------------------------------------------------------------------------

test('bad ids, cursors, names, bodies and types are answered 400 (413 for a huge body), never 500', async (t) => {
  const file = await newFile(h, alice.id);
  const base = `/api/files/${file.id}`;
  const cases: Array<[string, string, unknown?, number?]> = [
    ['GET', '/api/files/not-a-uuid'],
    ['GET', '/api/files/1234/content'],
    ['PATCH', '/api/files/zzz', { name: 'a' }],
    ['DELETE', '/api/files/%00'],
    ['POST', '/api/files/abc/restore'],
    ['DELETE', '/api/files/abc/permanent'],
    ['GET', '/api/files/abc/shares'],
    ['PUT', `${base}/shares/not-a-user`, { role: 'viewer' }],
    ['DELETE', `${base}/shares/not-a-user`],
    ['DELETE', '/api/shortcuts/nope'],
    ['GET', '/api/public/files/nope'],
    ['GET', '/api/files?cursor=%%%'],
    ['GET', `/api/files?cursor=${Buffer.from('{"v":"owned","t":"2024-01-01T00:00:00Z","id":"x"}').toString('base64url')}`],
    ['GET', `/api/files?view=shared&cursor=${Buffer.from('[]').toString('base64url')}`],
    ['GET', '/api/files?view=mine'],
    ['PATCH', base, { name: 'x'.repeat(256) }],
    ['PATCH', base, { name: 'x'.repeat(60_000) }],
    ['PATCH', base, { name: 'a/b' }],
    ['PATCH', base, { name: 'a\\b' }],
    ['PATCH', base, { name: 'tab\there' }],
    ['PATCH', base, { name: '..' }],
    ['PATCH', base, { name: '' }],
    ['PATCH', base, { name: 5 }],
    ['PATCH', base, { visibility: 'secret' }],
    ['PATCH', base, { name: 'ok.txt', owner: carol.id }],
    ['PATCH', base, {}],
    ['PATCH', base, '{"name": '],
    ['PATCH', base, '[]'],
    ['POST', `${base}/shares`, { userId: bob.id, role: 'admin' }],
    ['POST', `${base}/shares`, { userId: bob.id, email: bob.email, role: 'viewer' }],
    ['POST', `${base}/shares`, { email: 'not an email', role: 'viewer' }],
    ['POST', `${base}/shares`, { userId: 42, role: 'viewer' }],
    ['POST', `${base}/shares`, { role: 'viewer' }],
    ['PUT', `${base}/shares/${bob.id}`, { role: 'owner' }],
    ['PUT', `${base}/shares/${bob.id}`, { role: 'viewer', extra: true }],
    ['POST', '/api/shortcuts', { fileId: 'abc' }],
    ['POST', '/api/shortcuts', { fileId: file.id, name: 'x/y' }],
    ['POST', '/api/shortcuts', { fileId: file.id, surprise: 1 }],
    ['POST', '/api/shortcuts', { fileId: [file.id] }],
    ['PATCH', base, { name: 'x'.repeat(70_000) + '.txt' }, 413],
  ];
  for (const [method, path, body, status = 400] of cases) {
    const answer = await json<ErrorBody>(call(h, alice.id, path, { method, body }));
    t.is(answer.status, status, `${method} ${path} ${JSON.stringify(body)?.slice(0, 80)}`);
    t.truthy(answer.body?.error?.code, `${method} ${path}: a JSON error`);
  }
  t.like((await json(call(h, alice.id, base))).body, { name: 'notes.txt' }, 'nothing changed');
});

async function storageKeyOf(id: string): Promise<string> {
  const { rows } = await h.sql.query<{ storage_key: string }>('SELECT storage_key FROM files.files WHERE id = $1', [id]);
  return rows[0]!.storage_key;
}
