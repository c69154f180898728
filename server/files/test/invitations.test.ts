import test from 'ava';
import { randomUUID } from 'node:crypto';
import { normalizeEmail } from '@govault/lib';
import type { FileView } from '../src/index.ts';
import { call, createUser, json, listAll, newFile, startHarness, type Harness, type TestUser } from './support.ts';

/**
 * Sharing by email without telling the granter whether the address is registered
 * (ARCHITECTURE.md: pending invitations), and answers that carry no email or user id the
 * caller did not give. Real HTTP, the real auth service as a child process.
 */
let h: Harness;
let alice: TestUser;

test.before(async () => {
  h = await startHarness();
  alice = await createUser(h, 'Alice');
});
test.after.always(async () => h?.stop());

interface Grant {
  userId: string | null;
  email: string | null;
  displayName: string | null;
  role: string;
  createdAt: string;
  status: string;
}

const share = (base: string, fileId: string, body: unknown, owner = alice) =>
  json<Grant>(call(h, owner.id, `/api/files/${fileId}/shares`, { method: 'POST', body, base }));
const grants = async (fileId: string, owner = alice) => (await json<{ items: Grant[] }>(call(h, owner.id, `/api/files/${fileId}/shares`))).body.items;
const withoutTime = (grant: Grant) => ({ ...grant, createdAt: 'any' });
const freshEmail = () => `new-${randomUUID()}@example.test`;

test('a grant by email answers the same for a registered and an unregistered address, without asking auth', async (t) => {
  const bob = await createUser(h, 'Bob');
  const unregistered = freshEmail();
  for (const [label, base] of [['auth up', h.files.url], ['auth unreachable', (await h.startFiles({ AUTH_URL: 'http://127.0.0.1:9' })).url]] as const) {
    const file = await newFile(h, alice.id);
    const toBob = await share(base, file.id, { email: bob.email, role: 'viewer' });
    const toNobody = await share(base, file.id, { email: unregistered, role: 'viewer' });
    t.is(toBob.status, 201, label);
    t.is(toNobody.status, 201, label);
    t.deepEqual(Object.keys(toBob.body), Object.keys(toNobody.body), label);
    t.deepEqual(withoutTime(toBob.body), { userId: null, email: normalizeEmail(bob.email), displayName: null, role: 'viewer', createdAt: 'any', status: 'pending' }, label);
    t.deepEqual(withoutTime(toNobody.body), { ...withoutTime(toBob.body), email: unregistered }, label);
  }
});

test('an invitation to an unregistered address becomes a share with its role when that address registers', async (t) => {
  const file = await newFile(h, alice.id, { name: 'for-dana.txt' });
  const email = freshEmail();
  t.is((await share(h.files.url, file.id, { email: email.toUpperCase(), role: 'editor' })).status, 201);
  t.like(await grants(file.id), [{ userId: null, email, status: 'pending', role: 'editor' }]);

  const dana = await createUser(h, 'Dana', email);
  const shared = (await listAll(h, dana.id, 'view=shared')).flat();
  t.deepEqual(shared.map((f) => [f.id, f.role, f.name]), [[file.id, 'editor', 'for-dana.txt']]);
  t.like((await json<FileView>(call(h, dana.id, `/api/files/${file.id}`))).body, { role: 'editor', ownerId: alice.id });
  t.deepEqual((await grants(file.id)).map(withoutTime), [{ userId: dana.id, email, displayName: null, role: 'editor', createdAt: 'any', status: 'active' }]);
});

test('opening a file by id claims its invitation too', async (t) => {
  const email = freshEmail();
  const erin = await createUser(h, 'Erin', email);
  const file = await newFile(h, alice.id);
  await share(h.files.url, file.id, { email, role: 'viewer' });
  t.like(await json(call(h, erin.id, `/api/files/${file.id}`)), { status: 200, body: { id: file.id, role: 'viewer' } });
  t.like(await grants(file.id), [{ userId: erin.id, status: 'active' }]);
});

test('an invitation is changed and withdrawn by its address; the share it became answers to the address and the id', async (t) => {
  const email = freshEmail();
  const file = await newFile(h, alice.id);
  await share(h.files.url, file.id, { email, role: 'viewer' });
  const byAddress = `/api/files/${file.id}/shares/${encodeURIComponent(email.toUpperCase())}`;
  t.like(await json(call(h, alice.id, byAddress, { method: 'PUT', body: { role: 'editor' } })), { status: 200, body: { email, role: 'editor', status: 'pending' } });
  t.is((await call(h, alice.id, byAddress, { method: 'DELETE' })).status, 204);
  t.deepEqual(await grants(file.id), []);
  t.is((await call(h, alice.id, byAddress, { method: 'DELETE' })).status, 404);

  // Withdrawn before the invitee came: nothing to claim.
  const frank = await createUser(h, 'Frank', email);
  t.is((await call(h, frank.id, `/api/files/${file.id}`)).status, 404);

  await share(h.files.url, file.id, { email, role: 'viewer' });
  t.is((await listAll(h, frank.id, 'view=shared')).flat().length, 1);
  t.like(await json(call(h, alice.id, byAddress, { method: 'PUT', body: { role: 'editor' } })), { status: 200, body: { userId: frank.id, role: 'editor', status: 'active' } });
  t.like(await json(call(h, frank.id, `/api/files/${file.id}`)), { body: { role: 'editor' } });
  t.is((await call(h, alice.id, byAddress, { method: 'DELETE' })).status, 204);
  t.is((await call(h, frank.id, `/api/files/${file.id}`)).status, 404);
});

test("the owner's own address is invited like any other, and dropped when the owner shows up", async (t) => {
  const file = await newFile(h, alice.id);
  const other = freshEmail();
  const own = await share(h.files.url, file.id, { email: alice.email, role: 'viewer' });
  const foreign = await share(h.files.url, file.id, { email: other, role: 'viewer' });
  t.deepEqual(withoutTime(own.body), { ...withoutTime(foreign.body), email: normalizeEmail(alice.email) });
  // Alice's next request (this very list) claims her own invitation, which is simply dropped.
  t.deepEqual((await grants(file.id)).map((g) => g.email), [other]);
  t.like(await json(call(h, alice.id, `/api/files/${file.id}`)), { body: { role: 'owner' } });
});

test('a user who already holds a share by id keeps it when an invitation to their address is claimed', async (t) => {
  const gina = await createUser(h, 'Gina');
  const file = await newFile(h, alice.id);
  // Before Gina calls anything (her requests would claim the invitation at once).
  await share(h.files.url, file.id, { userId: gina.id, role: 'editor' });
  await share(h.files.url, file.id, { email: gina.email, role: 'viewer' });
  t.like(await json(call(h, gina.id, `/api/files/${file.id}`)), { body: { role: 'editor' } });
  t.deepEqual((await grants(file.id)).map((g) => [g.userId, g.email, g.role, g.status]), [[gina.id, normalizeEmail(gina.email), 'editor', 'active']]);
});

// --- no email or id the caller did not give -----------------------------------------------

test('a public link names no owner, and a grant by id tells the granter nothing about the user', async (t) => {
  const victim = await createUser(h, 'Victim');
  const attacker = await createUser(h, 'Attacker');
  const file = await newFile(h, victim.id, { name: 'public.txt' });
  await call(h, victim.id, `/api/files/${file.id}`, { method: 'PATCH', body: { visibility: 'public' } });
  await call(h, victim.id, `/api/files/${file.id}/shares`, { method: 'POST', body: { userId: alice.id, role: 'viewer' } });

  const seen: unknown[] = [];
  const look = async (userId: string | undefined, path: string, options = {}) => {
    const answer = await json(call(h, userId, path, options));
    seen.push(answer.body);
    return answer;
  };
  const publicView = await look(undefined, `/api/public/files/${file.id}`);
  t.is(publicView.status, 200);
  t.false('ownerId' in (publicView.body as object), 'the public view names no owner');
  t.like((await look(attacker.id, `/api/files/${file.id}`)).body, { role: 'public' });
  const shortcut = await look(attacker.id, '/api/shortcuts', { method: 'POST', body: { fileId: file.id } });
  t.is(shortcut.status, 201);
  await look(attacker.id, '/api/files?view=shortcuts');

  // The attack: share one's own file with the victim's id, hoping for their email.
  const own = await newFile(h, attacker.id);
  const granted = await look(attacker.id, `/api/files/${own.id}/shares`, { method: 'POST', body: { userId: victim.id, role: 'viewer' } });
  t.like(granted, { status: 201, body: { userId: victim.id, email: null, displayName: null, status: 'active' } });
  await look(attacker.id, `/api/files/${own.id}/shares`);

  const everything = JSON.stringify(seen);
  t.false(everything.toLowerCase().includes(normalizeEmail(victim.email)), 'no answer carries the victim’s email');
  t.false(everything.includes('Victim'), 'nor their name');
  t.false(JSON.stringify(seen.slice(0, 4)).includes(victim.id), 'nor, before the attacker typed it, their id');
});

test("what a grantee sees of a shared file: the owner's id, never an email", async (t) => {
  const hank = await createUser(h, 'Hank');
  const file = await newFile(h, alice.id);
  await share(h.files.url, file.id, { email: hank.email, role: 'viewer' });
  await share(h.files.url, file.id, { email: freshEmail(), role: 'viewer' });
  const answers = [
    await json(call(h, hank.id, '/api/files?view=shared')),
    await json(call(h, hank.id, `/api/files/${file.id}`)),
    await json(call(h, hank.id, '/api/shortcuts', { method: 'POST', body: { fileId: file.id } })),
    await json(call(h, hank.id, '/api/files?view=shortcuts')),
    await json(call(h, hank.id, `/api/files/${file.id}/shares`)),
  ];
  t.like(answers[1], { status: 200, body: { ownerId: alice.id, role: 'viewer' } });
  t.is(answers[4]!.status, 403, 'a viewer does not see who else has access');
  t.false(JSON.stringify(answers).includes('@'), 'no email at all');
});
