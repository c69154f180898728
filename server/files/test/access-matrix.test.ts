import test from 'ava';
import { randomUUID } from 'node:crypto';
import type Router from '@koa/router';
import { call, createUser, json, newFile, startHarness, type ErrorBody, type Harness, type TestUser } from './support.ts';

/**
 * The authorization matrix of ARCHITECTURE.md, over real HTTP: every route of the files
 * service x {owner, editor, viewer, stranger, anonymous} x {private, public, trashed}.
 * Each cell runs on a fresh file (so a DELETE in one cell cannot change the next) and
 * checks the status, or for a list whether the file is in it. The routes come from the
 * service's own routers, so a new route without a row fails. A stranger's 404 must be
 * byte for byte the 404 of an id that does not exist.
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

/** A cell's answer: the status, or for a list whether the file is in it. */
type Answer = number | 'listed' | 'absent';

interface MatrixFile {
  id: string;
  /** Unique to this file, so that a list's `q` finds it on the first page. */
  name: string;
}

interface Route {
  /** The route of the files service's router this row exercises, as `METHOD /pattern`. */
  route: string;
  name: string;
  request(file: MatrixFile, actorId: string | undefined): { method: string; path: string; body?: unknown } | Promise<{ method: string; path: string; body?: unknown }>;
  /** Lists: whether the answer names the file (else the status is the answer). */
  lists?: boolean;
  /** Expected answer per actor, as [private, public, trashed]. */
  expect: Record<Actor, [Answer, Answer, Answer]>;
}

// Reused rows: who may only read, who may not know the file exists.
const readOnly = { editor: [403, 403, 404], viewer: [403, 403, 404], stranger: [404, 403, 404], anonymous: [401, 401, 401] } as const;
const readers = { editor: [200, 200, 404], viewer: [200, 200, 404], stranger: [404, 200, 404], anonymous: [401, 401, 401] } as const;
const ownerOnly = (owner: [number, number, number]) => ({ owner, ...readOnly }) as Route['expect'];
const everyone = (answers: [Answer, Answer, Answer]) => Object.fromEntries(actors.map((a) => [a, answers])) as Route['expect'];
const absent: [Answer, Answer, Answer] = ['absent', 'absent', 'absent'];
const unauthenticated: [Answer, Answer, Answer] = [401, 401, 401];

/** A shortcut of `userId` to the file, as one made while the user could read it. */
async function shortcutOf(userId: string, file: MatrixFile): Promise<string> {
  const id = randomUUID();
  await h.sql.query('INSERT INTO files.shortcuts (id, user_id, file_id, name, created_at) VALUES ($1, $2, $3, $4, now())', [id, userId, file.id, file.name]);
  return id;
}

const list = (view: string) => (file: MatrixFile) => ({ method: 'GET', path: `/api/files?view=${view}&q=${encodeURIComponent(file.name)}` });

const routes: Route[] = [
  { route: 'GET /api/files/:id', name: 'GET /api/files/:id', request: (f) => ({ method: 'GET', path: `/api/files/${f.id}` }), expect: { owner: [200, 200, 200], ...readers } as Route['expect'] },
  { route: 'GET /api/files/:id/content', name: 'GET /api/files/:id/content', request: (f) => ({ method: 'GET', path: `/api/files/${f.id}/content` }), expect: { owner: [200, 200, 200], ...readers } as Route['expect'] },
  {
    route: 'PATCH /api/files/:id',
    name: 'PATCH /api/files/:id {name}',
    request: (f) => ({ method: 'PATCH', path: `/api/files/${f.id}`, body: { name: 'renamed.txt' } }),
    expect: { ...ownerOnly([200, 200, 409]), editor: [200, 200, 404] },
  },
  { route: 'PATCH /api/files/:id', name: 'PATCH /api/files/:id {visibility}', request: (f) => ({ method: 'PATCH', path: `/api/files/${f.id}`, body: { visibility: 'public' } }), expect: ownerOnly([200, 200, 409]) },
  { route: 'DELETE /api/files/:id', name: 'DELETE /api/files/:id', request: (f) => ({ method: 'DELETE', path: `/api/files/${f.id}` }), expect: ownerOnly([204, 204, 204]) },
  { route: 'POST /api/files/:id/restore', name: 'POST /api/files/:id/restore', request: (f) => ({ method: 'POST', path: `/api/files/${f.id}/restore` }), expect: ownerOnly([200, 200, 200]) },
  { route: 'DELETE /api/files/:id/permanent', name: 'DELETE /api/files/:id/permanent', request: (f) => ({ method: 'DELETE', path: `/api/files/${f.id}/permanent` }), expect: ownerOnly([204, 204, 204]) },
  { route: 'GET /api/files/:id/shares', name: 'GET /api/files/:id/shares', request: (f) => ({ method: 'GET', path: `/api/files/${f.id}/shares` }), expect: ownerOnly([200, 200, 200]) },
  {
    route: 'POST /api/files/:id/shares',
    name: 'POST /api/files/:id/shares',
    request: (f) => ({ method: 'POST', path: `/api/files/${f.id}/shares`, body: { userId: extra.id, role: 'viewer' } }),
    expect: ownerOnly([201, 201, 409]),
  },
  {
    route: 'PUT /api/files/:id/shares/:grantee',
    name: 'PUT /api/files/:id/shares/:userId',
    request: (f) => ({ method: 'PUT', path: `/api/files/${f.id}/shares/${viewer.id}`, body: { role: 'editor' } }),
    expect: ownerOnly([200, 200, 409]),
  },
  {
    route: 'DELETE /api/files/:id/shares/:grantee',
    name: 'DELETE /api/files/:id/shares/:userId',
    request: (f) => ({ method: 'DELETE', path: `/api/files/${f.id}/shares/${viewer.id}` }),
    expect: ownerOnly([204, 204, 204]),
  },
  {
    route: 'POST /api/shortcuts',
    name: 'POST /api/shortcuts',
    request: (f) => ({ method: 'POST', path: '/api/shortcuts', body: { fileId: f.id } }),
    expect: { owner: [201, 201, 409], editor: [201, 201, 404], viewer: [201, 201, 404], stranger: [404, 201, 404], anonymous: [401, 401, 401] },
  },
  {
    route: 'DELETE /api/shortcuts/:id',
    name: "DELETE /api/shortcuts/:id (the owner's shortcut to the file)",
    request: async (f) => ({ method: 'DELETE', path: `/api/shortcuts/${await shortcutOf(owner.id, f)}` }),
    expect: { owner: [204, 204, 204], editor: [404, 404, 404], viewer: [404, 404, 404], stranger: [404, 404, 404], anonymous: unauthenticated },
  },
  {
    route: 'DELETE /api/shortcuts/:id',
    name: "DELETE /api/shortcuts/:id (the caller's own shortcut: whatever became of the file)",
    request: async (f, actorId) => ({ method: 'DELETE', path: `/api/shortcuts/${await shortcutOf(actorId ?? owner.id, f)}` }),
    expect: { ...everyone([204, 204, 204]), anonymous: unauthenticated },
  },
  {
    route: 'GET /api/files',
    name: 'GET /api/files?view=owned',
    request: list('owned'),
    lists: true,
    expect: { owner: ['listed', 'listed', 'absent'], editor: absent, viewer: absent, stranger: absent, anonymous: unauthenticated },
  },
  {
    route: 'GET /api/files',
    name: 'GET /api/files?view=shared',
    request: list('shared'),
    lists: true,
    expect: { owner: absent, editor: ['listed', 'listed', 'absent'], viewer: ['listed', 'listed', 'absent'], stranger: absent, anonymous: unauthenticated },
  },
  {
    route: 'GET /api/files',
    name: 'GET /api/files?view=trash',
    request: list('trash'),
    lists: true,
    expect: { owner: ['absent', 'absent', 'listed'], editor: absent, viewer: absent, stranger: absent, anonymous: unauthenticated },
  },
  {
    route: 'GET /api/files',
    name: 'GET /api/files?view=shortcuts (every user holds a shortcut to the file)',
    request: async (f, actorId) => {
      for (const user of [owner, editor, viewer, stranger]) if (user.id === actorId) await shortcutOf(user.id, f);
      return list('shortcuts')(f);
    },
    lists: true,
    expect: {
      owner: ['listed', 'listed', 'absent'],
      editor: ['listed', 'listed', 'absent'],
      viewer: ['listed', 'listed', 'absent'],
      stranger: ['absent', 'listed', 'absent'],
      anonymous: unauthenticated,
    },
  },
  {
    route: 'GET /api/public/files/:id',
    name: 'GET /api/public/files/:id',
    request: (f) => ({ method: 'GET', path: `/api/public/files/${f.id}` }),
    expect: everyone([404, 200, 404]),
  },
  {
    route: 'GET /api/public/files/:id/content',
    name: 'GET /api/public/files/:id/content',
    request: (f) => ({ method: 'GET', path: `/api/public/files/${f.id}/content` }),
    expect: everyone([404, 200, 404]),
  },
  {
    // Every request through the gateway carries a gateway token: it opens no internal route.
    route: 'POST /internal/files',
    name: 'POST /internal/files (a registration, with the token the gateway gives every request)',
    request: (f, actorId) => ({
      method: 'POST',
      path: '/internal/files',
      body: { uploadId: randomUUID(), ownerId: actorId ?? owner.id, name: f.name, size: 5, contentType: 'text/plain', storageKey: randomUUID() },
    }),
    expect: everyone(unauthenticated),
  },
];

const userOf = (actor: Actor) => ({ owner, editor, viewer, stranger, anonymous: undefined })[actor]?.id;

/** A file of the owner's, shared with the editor and the viewer, then put in `state`. */
async function fixture(state: State): Promise<MatrixFile> {
  const file = await newFile(h, owner.id, { name: `matrix-${state}-${randomUUID().slice(0, 8)}.txt` });
  for (const [user, role] of [[editor, 'editor'], [viewer, 'viewer']] as const) {
    const granted = await call(h, owner.id, `/api/files/${file.id}/shares`, { method: 'POST', body: { userId: user.id, role } });
    if (granted.status !== 201) throw new Error(`share answered ${granted.status}`);
  }
  if (state === 'public') await call(h, owner.id, `/api/files/${file.id}`, { method: 'PATCH', body: { visibility: 'public' } });
  if (state === 'trashed') await call(h, owner.id, `/api/files/${file.id}`, { method: 'DELETE' });
  return { id: file.id, name: file.name };
}

/** Runs `work` over `items`, `width` at a time. */
async function pool<T>(items: T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await work(items[next++]!);
  }));
}

async function answerOf(route: Route, file: MatrixFile, response: Response): Promise<Answer> {
  if (!route.lists || response.status !== 200) {
    await response.arrayBuffer();
    return response.status;
  }
  const { items } = (await response.json()) as { items: Array<{ id: string }> };
  return items.some((item) => item.id === file.id) ? 'listed' : 'absent';
}

test('every route answers each role in each file state with the answer the contract implies', async (t) => {
  const key = (route: Route, actor: Actor, state: State) => `${route.name} | ${actor} | ${state}`;
  const expected: Record<string, Answer> = {};
  const observed: Record<string, Answer> = {};
  const cells = routes.flatMap((route) => actors.flatMap((actor) => states.map((state, i) => ({ route, actor, state, answer: route.expect[actor][i]! }))));
  for (const { route, actor, state, answer } of cells) expected[key(route, actor, state)] = answer;
  await pool(cells, 6, async ({ route, actor, state }) => {
    const file = await fixture(state);
    const { method, path, body } = await route.request(file, userOf(actor));
    observed[key(route, actor, state)] = await answerOf(route, file, await call(h, userOf(actor), path, { method, body }));
  });
  t.deepEqual(observed, expected);
});

test("the matrix covers every route of the files service's routers (HEAD is the GET handler's)", (t) => {
  const served = new Set<string>();
  for (const middleware of h.files.built.app.middleware) {
    const router = (middleware as { router?: Router }).router;
    for (const layer of router?.stack ?? []) for (const method of layer.methods) if (method !== 'HEAD') served.add(`${method} ${layer.path}`);
  }
  t.true(served.size > 0, 'the routers were found in the app');
  t.deepEqual([...new Set(routes.map((r) => r.route))].sort(), [...served].sort());
});

test('a stranger cannot tell a private or trashed file from one that does not exist', async (t) => {
  for (const state of ['private', 'trashed'] as const) {
    const file = await fixture(state);
    const ghost = { id: randomUUID(), name: file.name };
    const column = states.indexOf(state);
    for (const route of routes.filter((r) => r.route.includes('/files/:id') && r.expect.stranger[column] === 404)) {
      const real = await route.request(file, stranger.id);
      const missing = await route.request(ghost, stranger.id);
      const seen = await json<ErrorBody>(call(h, stranger.id, real.path, { method: real.method, body: real.body }));
      const none = await json<ErrorBody>(call(h, stranger.id, missing.path, { method: missing.method, body: missing.body }));
      t.is(seen.status, 404, `${route.name} on a ${state} file`);
      t.is(none.status, 404, `${route.name} on no file`);
      t.deepEqual({ ...seen.body.error, requestId: undefined }, { ...none.body.error, requestId: undefined }, route.name);
    }
  }
});

test('the effects match the statuses: an editor renames, a viewer reads, the owner shares', async (t) => {
  const { id } = await fixture('private');
  t.like((await json(call(h, editor.id, `/api/files/${id}`, { method: 'PATCH', body: { name: 'by editor.txt' } }))).body, { name: 'by editor.txt', role: 'editor' });
  t.like((await json(call(h, viewer.id, `/api/files/${id}`))).body, { name: 'by editor.txt', role: 'viewer' });
  t.is(await (await call(h, viewer.id, `/api/files/${id}/content`)).text(), 'hello');
  const forbidden = await json<ErrorBody>(call(h, viewer.id, `/api/files/${id}`, { method: 'PATCH', body: { name: 'nope.txt' } }));
  t.like(forbidden, { status: 403, body: { error: { code: 'forbidden' } } });
  t.like((await json(call(h, owner.id, `/api/files/${id}`))).body, { name: 'by editor.txt', role: 'owner' });
});
