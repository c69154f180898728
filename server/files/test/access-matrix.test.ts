import test from 'ava';
import { randomUUID } from 'node:crypto';
import { call, createUser, json, newFile, startHarness, type ErrorBody, type Harness, type TestUser } from './support.ts';

/**
 * The authorization matrix of ARCHITECTURE.md, over real HTTP: every route x {owner,
 * editor, viewer, stranger, anonymous} x {private, public, trashed}. Each cell runs on a
 * fresh file (so a DELETE in one cell cannot change the next) and checks the status. A
 * stranger's 404 must be byte for byte the 404 of an id that does not exist.
 */
let h: Harness;
let owner: TestUser;
let editor: TestUser;
let viewer: TestUser;
let stranger: TestUser;
let extra: TestUser;

test.before(async () => {
  h = await startHarness();
  const users = await Promise.all(['Owner', 'Editor', 'Viewer', 'Stranger', 'Extra'].map((n) => createUser(h, n)));
  [owner, editor, viewer, stranger, extra] = users as [TestUser, TestUser, TestUser, TestUser, TestUser];
});
test.after.always(async () => h?.stop());

type Actor = 'owner' | 'editor' | 'viewer' | 'stranger' | 'anonymous';
type State = 'private' | 'public' | 'trashed';
const actors: Actor[] = ['owner', 'editor', 'viewer', 'stranger', 'anonymous'];
const states: State[] = ['private', 'public', 'trashed'];

interface Route {
  name: string;
  request(fileId: string): { method: string; path: string; body?: unknown };
  /** Expected status per actor, as [private, public, trashed]. */
  expect: Record<Actor, [number, number, number]>;
}

// Reused rows: who may only read, who may not know the file exists.
const readOnly = { editor: [403, 403, 404], viewer: [403, 403, 404], stranger: [404, 403, 404], anonymous: [401, 401, 401] } as const;
const readers = { editor: [200, 200, 404], viewer: [200, 200, 404], stranger: [404, 200, 404], anonymous: [401, 401, 401] } as const;
const ownerOnly = (owner: [number, number, number]) => ({ owner, ...readOnly }) as Route['expect'];

const routes: Route[] = [
  { name: 'GET /api/files/:id', request: (id) => ({ method: 'GET', path: `/api/files/${id}` }), expect: { owner: [200, 200, 200], ...readers } as Route['expect'] },
  { name: 'GET /api/files/:id/content', request: (id) => ({ method: 'GET', path: `/api/files/${id}/content` }), expect: { owner: [200, 200, 200], ...readers } as Route['expect'] },
  {
    name: 'PATCH /api/files/:id {name}',
    request: (id) => ({ method: 'PATCH', path: `/api/files/${id}`, body: { name: 'renamed.txt' } }),
    expect: { ...ownerOnly([200, 200, 409]), editor: [200, 200, 404] },
  },
  { name: 'PATCH /api/files/:id {visibility}', request: (id) => ({ method: 'PATCH', path: `/api/files/${id}`, body: { visibility: 'public' } }), expect: ownerOnly([200, 200, 409]) },
  { name: 'DELETE /api/files/:id', request: (id) => ({ method: 'DELETE', path: `/api/files/${id}` }), expect: ownerOnly([204, 204, 204]) },
  { name: 'POST /api/files/:id/restore', request: (id) => ({ method: 'POST', path: `/api/files/${id}/restore` }), expect: ownerOnly([200, 200, 200]) },
  { name: 'DELETE /api/files/:id/permanent', request: (id) => ({ method: 'DELETE', path: `/api/files/${id}/permanent` }), expect: ownerOnly([204, 204, 204]) },
  { name: 'GET /api/files/:id/shares', request: (id) => ({ method: 'GET', path: `/api/files/${id}/shares` }), expect: ownerOnly([200, 200, 200]) },
  {
    name: 'POST /api/files/:id/shares',
    request: (id) => ({ method: 'POST', path: `/api/files/${id}/shares`, body: { userId: extra.id, role: 'viewer' } }),
    expect: ownerOnly([201, 201, 409]),
  },
  {
    name: 'PUT /api/files/:id/shares/:userId',
    request: (id) => ({ method: 'PUT', path: `/api/files/${id}/shares/${viewer.id}`, body: { role: 'editor' } }),
    expect: ownerOnly([200, 200, 409]),
  },
  { name: 'DELETE /api/files/:id/shares/:userId', request: (id) => ({ method: 'DELETE', path: `/api/files/${id}/shares/${viewer.id}` }), expect: ownerOnly([204, 204, 204]) },
  {
    name: 'POST /api/shortcuts',
    request: (id) => ({ method: 'POST', path: '/api/shortcuts', body: { fileId: id } }),
    expect: { owner: [201, 201, 409], editor: [201, 201, 404], viewer: [201, 201, 404], stranger: [404, 201, 404], anonymous: [401, 401, 401] },
  },
  {
    name: 'GET /api/public/files/:id',
    request: (id) => ({ method: 'GET', path: `/api/public/files/${id}` }),
    expect: Object.fromEntries(actors.map((a) => [a, [404, 200, 404]])) as Route['expect'],
  },
  {
    name: 'GET /api/public/files/:id/content',
    request: (id) => ({ method: 'GET', path: `/api/public/files/${id}/content` }),
    expect: Object.fromEntries(actors.map((a) => [a, [404, 200, 404]])) as Route['expect'],
  },
];

const userOf = (actor: Actor) => ({ owner, editor, viewer, stranger, anonymous: undefined })[actor]?.id;

/** A file of the owner's, shared with the editor and the viewer, then put in `state`. */
async function fixture(state: State): Promise<string> {
  const file = await newFile(h, owner.id, { name: `matrix-${state}.txt` });
  for (const [user, role] of [[editor, 'editor'], [viewer, 'viewer']] as const) {
    const granted = await call(h, owner.id, `/api/files/${file.id}/shares`, { method: 'POST', body: { userId: user.id, role } });
    if (granted.status !== 201) throw new Error(`share answered ${granted.status}`);
  }
  if (state === 'public') await call(h, owner.id, `/api/files/${file.id}`, { method: 'PATCH', body: { visibility: 'public' } });
  if (state === 'trashed') await call(h, owner.id, `/api/files/${file.id}`, { method: 'DELETE' });
  return file.id;
}

/** Runs `work` over `items`, `width` at a time. */
async function pool<T>(items: T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await work(items[next++]!);
  }));
}

test('every route answers each role in each file state with the status the contract implies', async (t) => {
  const cells = routes.flatMap((route) => actors.flatMap((actor) => states.map((state, i) => ({ route, actor, state, expected: route.expect[actor][i]! }))));
  const mismatches: string[] = [];
  await pool(cells, 6, async ({ route, actor, state, expected }) => {
    const id = await fixture(state);
    const { method, path, body } = route.request(id);
    const response = await call(h, userOf(actor), path, { method, body });
    await response.arrayBuffer();
    if (response.status !== expected) mismatches.push(`${route.name} as ${actor} on a ${state} file: ${response.status}, expected ${expected}`);
  });
  t.deepEqual(mismatches, [], mismatches.join('\n'));
  t.is(cells.length, routes.length * actors.length * states.length);
});

test('a stranger cannot tell a private or trashed file from one that does not exist', async (t) => {
  for (const state of ['private', 'trashed'] as const) {
    const id = await fixture(state);
    const ghost = randomUUID();
    for (const route of routes) {
      const real = route.request(id);
      const missing = route.request(ghost);
      const seen = await json<ErrorBody>(call(h, stranger.id, real.path, { method: real.method, body: real.body }));
      const none = await json<ErrorBody>(call(h, stranger.id, missing.path, { method: missing.method, body: missing.body }));
      t.is(seen.status, 404, `${route.name} on a ${state} file`);
      t.is(none.status, 404, `${route.name} on no file`);
      t.deepEqual({ ...seen.body.error, requestId: undefined }, { ...none.body.error, requestId: undefined }, route.name);
    }
  }
});

test('the effects match the statuses: an editor renames, a viewer reads, the owner shares', async (t) => {
  const id = await fixture('private');
  t.like((await json(call(h, editor.id, `/api/files/${id}`, { method: 'PATCH', body: { name: 'by editor.txt' } }))).body, { name: 'by editor.txt', role: 'editor' });
  t.like((await json(call(h, viewer.id, `/api/files/${id}`))).body, { name: 'by editor.txt', role: 'viewer' });
  t.is(await (await call(h, viewer.id, `/api/files/${id}/content`)).text(), 'hello');
  const forbidden = await json<ErrorBody>(call(h, viewer.id, `/api/files/${id}`, { method: 'PATCH', body: { name: 'nope.txt' } }));
  t.like(forbidden, { status: 403, body: { error: { code: 'forbidden' } } });
  t.like((await json(call(h, owner.id, `/api/files/${id}`))).body, { name: 'by editor.txt', role: 'owner' });
});
