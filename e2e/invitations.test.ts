import test from 'ava';
import { randomUUID } from 'node:crypto';
import { getJson, postJson, registerAndLogin, uploadWithTus, type TestUser } from './client.ts';
import { availableModes, startSystem } from './system.ts';

/**
 * Sharing with someone who has no account yet, through the real gateway and processes
 * as `npm start` runs them: the grant answers the same as for a registered address, the
 * invitation becomes a share when that address registers, and no answer anywhere carries
 * an email (or, on public routes, a user id) the caller did not give.
 */
const upload = (baseUrl: string, user: TestUser, name: string) => uploadWithTus(baseUrl, user, name, Buffer.from(`bytes of ${name}`));

interface Grant {
  userId: string | null;
  email: string | null;
  displayName: string | null;
  role: string;
  createdAt: string;
  status: string;
}

for (const mode of availableModes()) {
  test.serial(`${mode}: sharing with an address that has no account yet, and nothing told that the caller did not give`, async (t) => {
    const system = await startSystem(mode);
    t.teardown(() => system.stop());
    const base = system.baseUrl;
    const [alice, bob, mallory] = (await Promise.all(['Alice', 'Bob', 'Mallory'].map((n) => registerAndLogin(base, n)))) as [TestUser, TestUser, TestUser];
    const fileId = await upload(base, alice, 'plans.txt');
    const shares = `${base}/api/files/${fileId}/shares`;
    // Everything Alice is answered: it may carry only the emails she typed.
    const toAlice: unknown[] = [];
    const asAlice = async <T>(answer: Promise<{ status: number; body: T }>) => {
      const result = await answer;
      toAlice.push(result.body);
      return result;
    };

    const dana = `dana-${randomUUID()}@example.test`;
    const registered = await asAlice(postJson(shares, { email: bob.email, role: 'viewer' }, alice.auth));
    const unregistered = await asAlice(postJson(shares, { email: dana, role: 'editor' }, alice.auth));
    t.is(registered.status, 201);
    t.is(unregistered.status, 201);
    const shape = (body: unknown) => ({ ...(body as Grant), email: 'typed', role: 'chosen', createdAt: 'now' });
    t.deepEqual(shape(registered.body), shape(unregistered.body), 'a registered and an unknown address get the same answer');
    t.like(unregistered.body, { userId: null, email: dana, displayName: null, status: 'pending' });

    // Dana registers; her first look at "shared with me" finds the file, with her role.
    const danaUser = await registerAndLogin(base, 'Dana', dana);
    const danaShared = await getJson<{ items: Array<{ id: string; role: string; ownerId: string }> }>(`${base}/api/files?view=shared`, danaUser.auth);
    t.deepEqual(danaShared.body.items.map((f) => [f.id, f.role, f.ownerId]), [[fileId, 'editor', alice.id]]);
    const bobShared = await getJson<{ items: Array<{ id: string; role: string }> }>(`${base}/api/files?view=shared`, bob.auth);
    t.deepEqual(bobShared.body.items.map((f) => [f.id, f.role]), [[fileId, 'viewer']]);

    // Alice sees the people: their ids now, and the addresses she typed.
    const list = await asAlice(getJson<{ items: Grant[] }>(shares, alice.auth));
    t.deepEqual(
      list.body.items.map((g) => [g.userId, g.email, g.role, g.status]).sort(),
      [[bob.id, bob.email, 'viewer', 'active'], [danaUser.id, dana, 'editor', 'active']].sort(),
    );
    t.like(await getJson(`${base}/api/files/${fileId}`, danaUser.auth), { status: 200, body: { role: 'editor' } });

    // A grant by email answers to that address: change it, withdraw it.
    const byAddress = `${shares}/${encodeURIComponent(dana)}`;
    const send = (method: string, body?: unknown) =>
      fetch(byAddress, { method, headers: { ...alice.auth, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const changed = await send('PUT', { role: 'viewer' });
    t.is(changed.status, 200);
    t.like(await changed.json(), { userId: danaUser.id, email: dana, role: 'viewer' });
    t.is((await send('DELETE')).status, 204);
    t.is((await getJson(`${base}/api/files/${fileId}`, danaUser.auth)).status, 404);

    // The attack of the report: a public link's owner id, then a share by that id.
    t.is((await fetch(`${base}/api/files/${fileId}`, { method: 'PATCH', headers: { ...alice.auth, 'content-type': 'application/json' }, body: '{"visibility":"public"}' })).status, 200);
    const toMallory: unknown[] = [];
    const publicView = await getJson(`${base}/api/public/files/${fileId}`);
    toMallory.push(publicView.body, (await getJson(`${base}/api/files/${fileId}`, mallory.auth)).body);
    t.is(publicView.status, 200);
    const ownFile = await upload(base, mallory, 'bait.txt');
    const byId = await postJson(`${base}/api/files/${ownFile}/shares`, { userId: alice.id, role: 'viewer' }, mallory.auth);
    toMallory.push(byId.body, (await getJson(`${base}/api/files/${ownFile}/shares`, mallory.auth)).body);
    t.like(byId, { status: 201, body: { userId: alice.id, email: null, displayName: null } });
    t.false(JSON.stringify(toMallory).includes('@'), 'Mallory is told no email');
    t.false(JSON.stringify(toMallory.slice(0, 2)).includes(alice.id), 'nor, from the public file, its owner');

    const typed = new Set([bob.email, dana]);
    const emails = JSON.stringify(toAlice).match(/[\w.+-]+@[\w.-]+/g) ?? [];
    t.deepEqual(emails.filter((e) => !typed.has(e)), [], 'Alice is told no address she did not type');
  });
}
