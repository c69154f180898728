import test, { type ExecutionContext } from 'ava';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { copyFileSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, fileNameProblem, migrate } from '@govault/lib';
import { startEmbeddedPostgres } from '@govault/lib/embedded-postgres';
import { testDatabase, type TestDatabase } from '@govault/lib/testing';
import pg from 'pg';
import { listSql, type FileListQuery } from '../src/index.ts';

/**
 * Integrity that does not depend on the service: SQL written straight to PostgreSQL, and
 * the plans of the list queries (EXPLAIN) on 100 and on 100,000 files, on embedded PGlite
 * and (when FILES_DATABASE_URL is set) on the real PostgreSQL.
 */
const migrationsDir = fileURLToPath(new URL('../../../migrations/files', import.meta.url));
let db: TestDatabase;
let sql: pg.Pool;

test.before(async () => {
  db = await testDatabase('files');
  await migrate({ url: db.url, schema: 'files', migrationsDir }, createLogger('files', 'silent'));
  sql = new pg.Pool({ connectionString: db.url, max: 4 });
});
test.after.always(async () => {
  await sql?.end();
  await db?.stop();
});

async function insertFile(ownerId: string, name = 'a.txt'): Promise<string> {
  const id = randomUUID();
  await sql.query(
    `INSERT INTO files.files (id, owner_id, upload_id, name, size, content_type, storage_key, created_at, updated_at)
     VALUES ($1, $2, $3, $4, 1, 'text/plain', $3, now(), now())`,
    [id, ownerId, `up-${id}`, name],
  );
  return id;
}

const share = (fileId: string, ownerId: string, userId: string, role = 'viewer') =>
  sql.query(
    `INSERT INTO files.shares (file_id, owner_id, user_id, role, email, created_at, updated_at) VALUES ($1, $2, $3, $4, 'x@example.test', now(), now())`,
    [fileId, ownerId, userId, role],
  );
const shortcut = (userId: string, fileId: string) =>
  sql.query(`INSERT INTO files.shortcuts (id, user_id, file_id, name, created_at) VALUES ($1, $2, $3, 's', now())`, [randomUUID(), userId, fileId]);

/** The failed statement's SQLSTATE and constraint, as PostgreSQL reports them. */
async function refusal(statement: Promise<unknown>): Promise<{ code?: string; constraint?: string }> {
  try {
    await statement;
  } catch (err) {
    const { code, constraint } = err as { code?: string; constraint?: string };
    return { code, constraint };
  }
  return {};
}

test('PostgreSQL refuses a share with the owner, a share whose owner is not the file owner, and a bad role', async (t) => {
  const owner = randomUUID();
  const other = randomUUID();
  const file = await insertFile(owner);
  t.deepEqual(await refusal(share(file, owner, owner)), { code: '23514', constraint: 'shares_not_owner' });
  t.deepEqual(await refusal(share(file, other, randomUUID())), { code: '23503', constraint: 'shares_file_owner_fk' });
  t.deepEqual(await refusal(share(file, owner, other, 'admin')), { code: '23514', constraint: 'shares_role_valid' });
  await share(file, owner, other, 'editor');
  t.deepEqual(await refusal(share(file, owner, other, 'viewer')), { code: '23505', constraint: 'shares_pkey' });
});

test('PostgreSQL refuses a second shortcut to one file, a shortcut to no file, and bad names', async (t) => {
  const owner = randomUUID();
  const file = await insertFile(owner);
  await shortcut(owner, file);
  t.deepEqual(await refusal(shortcut(owner, file)), { code: '23505', constraint: 'shortcuts_one_per_user_file' });
  t.deepEqual(await refusal(shortcut(owner, randomUUID())), { code: '23503', constraint: 'shortcuts_file_id_fkey' });
  for (const name of ['', 'a/b', 'a\\b', 'new\nline', '..', 'x'.repeat(256)]) {
    t.deepEqual(await refusal(insertFile(owner, name)), { code: '23514', constraint: 'files_name_valid' }, JSON.stringify(name));
  }
  t.deepEqual(await refusal(sql.query(`UPDATE files.files SET visibility = 'secret' WHERE id = $1`, [file])), { code: '23514', constraint: 'files_visibility_check' });
});

test.serial('PostgreSQL refuses file and shortcut names with bidi controls or nothing visible', async (t) => {
  const owner = randomUUID();
  const file = await insertFile(owner);
  for (const name of ['invoice\u202Efdp.exe', '\u2066a\u2069', 'a\u200F', '\u200B', '\u200B\u2060\uFEFF', ' ', '\u00A0\u3000', '\u0301', '\u3164', '\u{E0020}']) {
    t.deepEqual(await refusal(insertFile(owner, name)), { code: '23514', constraint: 'files_name_valid' }, JSON.stringify(name));
    t.deepEqual(
      await refusal(sql.query(`INSERT INTO files.shortcuts (id, user_id, file_id, name, created_at) VALUES ($1, $2, $3, $4, now())`, [randomUUID(), owner, file, name])),
      { code: '23514', constraint: 'shortcuts_name_valid' },
      JSON.stringify(name),
    );
  }
  await insertFile(owner, 'e\u0301 \u200B tab.txt');
});

test.serial("the database's name check is never stricter than the service's: every character it refuses, the lib refuses", async (t) => {
  // The SQL names only characters of the BMP and of plane 14 (tags, variation selectors).
  const { rows } = await sql.query<{ cp: number }>(
    `SELECT cp FROM (SELECT generate_series(1, 65535) AS cp UNION ALL SELECT generate_series(917504, 921599)) c
      WHERE (cp < 55296 OR cp > 57343) AND NOT files.valid_file_name(chr(cp))`,
  );
  t.true(rows.length > 100);
  const acceptedByLib = rows.map((r) => r.cp).filter((cp) => fileNameProblem(String.fromCodePoint(cp)) === undefined);
  t.deepEqual(acceptedByLib.map((cp) => cp.toString(16)), []);
});

test.serial('the migration to the stricter rule renames stored deceptive names instead of failing', async (t) => {
  const schema = `files_legacy_${randomUUID().replaceAll('-', '')}`;
  t.teardown(() => sql.query(`DROP SCHEMA ${schema} CASCADE`));
  const before = mkdtempSync(join(tmpdir(), 'govault-migrations-'));
  for (const name of readdirSync(migrationsDir).filter((n) => n < '004')) copyFileSync(join(migrationsDir, name), join(before, name));
  const logger = createLogger('files', 'silent');
  await migrate({ url: db.url, schema, migrationsDir: before }, logger);

  const owner = randomUUID();
  const stored = { 'invoice\u202Efdp.exe': 'invoicefdp.exe', '\u200B': 'untitled', ' \u202E ': 'untitled', '\u2066\u2069': 'untitled', 'ok.txt': 'ok.txt' };
  const ids: Record<string, string> = {};
  for (const name of Object.keys(stored)) {
    const id = randomUUID();
    ids[name] = id;
    await sql.query(
      `INSERT INTO ${schema}.files (id, owner_id, upload_id, name, size, content_type, storage_key, created_at, updated_at)
       VALUES ($1, $2, $4, $3, 1, 'text/plain', $4, now(), now())`,
      [id, owner, name, `up-${id}`],
    );
    await sql.query(`INSERT INTO ${schema}.shortcuts (id, user_id, file_id, name, created_at) VALUES ($1, $2, $1, $3, now())`, [id, owner, name]);
  }

  t.deepEqual(await migrate({ url: db.url, schema, migrationsDir }, logger), readdirSync(migrationsDir).filter((n) => n >= '004'));
  for (const [name, expected] of Object.entries(stored)) {
    const { rows } = await sql.query(`SELECT f.name AS file, s.name AS shortcut FROM ${schema}.files f JOIN ${schema}.shortcuts s ON s.id = f.id WHERE f.id = $1`, [ids[name]]);
    t.deepEqual(rows[0], { file: expected, shortcut: expected }, JSON.stringify(name));
  }
});

test('PostgreSQL keeps one invitation per file and address, with a valid role, for the real owner', async (t) => {
  const owner = randomUUID();
  const file = await insertFile(owner);
  const invite = (ownerId: string, email: string, role = 'viewer') =>
    sql.query(`INSERT INTO files.invitations (file_id, owner_id, email, role, created_at, updated_at) VALUES ($1, $2, $3, $4, now(), now())`, [file, ownerId, email, role]);
  await invite(owner, 'dana@example.test');
  t.deepEqual(await refusal(invite(owner, 'dana@example.test', 'editor')), { code: '23505', constraint: 'invitations_pkey' });
  t.deepEqual(await refusal(invite(owner, 'erin@example.test', 'owner')), { code: '23514', constraint: 'invitations_role_valid' });
  t.deepEqual(await refusal(invite(randomUUID(), 'erin@example.test')), { code: '23503', constraint: 'invitations_file_owner_fk' });
  await sql.query('DELETE FROM files.files WHERE id = $1', [file]);
  t.is((await sql.query('SELECT 1 FROM files.invitations WHERE file_id = $1', [file])).rowCount, 0, 'gone with the file');
});

test('deleting a file removes its shares and shortcuts with it; the owner of a shared file cannot be rewritten', async (t) => {
  const owner = randomUUID();
  const user = randomUUID();
  const file = await insertFile(owner);
  await share(file, owner, user);
  await shortcut(user, file);
  t.deepEqual(await refusal(sql.query('UPDATE files.files SET owner_id = $2 WHERE id = $1', [file, randomUUID()])), {
    code: '23503',
    constraint: 'shares_file_owner_fk',
  });
  await sql.query('DELETE FROM files.files WHERE id = $1', [file]);
  const left = await sql.query('SELECT 1 FROM files.shares WHERE file_id = $1 UNION ALL SELECT 1 FROM files.shortcuts WHERE file_id = $1', [file]);
  t.is(left.rowCount, 0);
});

// --- plans -------------------------------------------------------------------------------
// The same plans on embedded PGlite (what `npm start` runs) and on a real PostgreSQL (what a
// deployment runs): each view's page seeks the caller's rows, and a later page its cursor,
// inside the view's index (the Index Cond), rather than filtering rows the scan has read.

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Index Cond'?: string;
  Filter?: string;
  Plans?: PlanNode[];
}

/**
 * The plan depth first, one line per node: its type, index, index condition and filter,
 * with the query's values named (`:user`, `:cursor-at`, `:cursor-id`, `:q`) so that plans
 * of different users and databases compare.
 */
function lines(node: PlanNode, values: Record<string, string>): string[] {
  const named = (text: string) => {
    let out = text.replace(/'[^']*'::timestamp with time zone/g, ':cursor-at');
    for (const [name, value] of Object.entries(values)) out = out.replaceAll(`'${value}'::uuid`, name).replaceAll(`'${value}'::text`, name);
    return out;
  };
  const parts = [node['Node Type']];
  if (node['Index Name']) parts.push(`${node['Index Name']}`);
  if (node['Index Cond']) parts.push(`cond ${named(node['Index Cond'])}`);
  if (node.Filter) parts.push(`filter ${named(node.Filter)}`);
  return [parts.join(' '), ...(node.Plans ?? []).flatMap((child) => lines(child, values))];
}

type Pool = pg.Pool;

async function plan(pool: Pool, query: FileListQuery): Promise<string[]> {
  const { sql: text, params } = listSql(query);
  let n = 0;
  const numbered = text.replace(/\?/g, () => `$${++n}`);
  const { rows } = await pool.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(`EXPLAIN (FORMAT JSON) ${numbered}`, params);
  const values: Record<string, string> = { ':user': query.userId };
  if (query.after) values[':cursor-id'] = query.after.id;
  if (query.nameContains) values[':q'] = `%${query.nameContains}%`;
  return lines(rows[0]!['QUERY PLAN'][0]!.Plan, values);
}

/** Where the next page starts, as the service's cursor has it: the position of a first page's last row. */
async function cursorAfter(pool: Pool, query: FileListQuery): Promise<{ at: Date; id: string }> {
  const { sql: text, params } = listSql(query);
  let n = 0;
  const { rows } = await pool.query<{ position_at: Date; position_id: string }>(text.replace(/\?/g, () => `$${++n}`), params);
  const last = rows.at(-1)!;
  return { at: last.position_at, id: last.position_id };
}

async function checkPlans(t: ExecutionContext, pool: Pool): Promise<void> {
  t.log((await pool.query<{ version: string }>('SELECT version()')).rows[0]!.version);
  const big = randomUUID();
  const small = randomUUID();
  const viewer = randomUUID();
  // One statement per bulk insert: 100,000 files for one user, 100 for another.
  const bulk = (owner: string, count: number) =>
    pool.query(
      `INSERT INTO files.files (id, owner_id, upload_id, name, size, content_type, storage_key, created_at, updated_at)
       SELECT gen_random_uuid(), $1::uuid, $1::text || '-' || g, 'file ' || g || '.txt', g, 'text/plain', $1::text || '-' || g,
              now() - g * interval '1 second', now()
       FROM generate_series(1, $2::int) AS g`,
      [owner, count],
    );
  t.teardown(() => pool.query('DELETE FROM files.files WHERE owner_id = ANY($1)', [[big, small]]).then(() => undefined));
  await bulk(big, 100_000);
  await bulk(small, 100);
  // The viewer has 20,000 shares and shortcuts: with a hundred, a later page holds so few
  // rows that a bitmap scan and a sort cost the planner less, and the plan would depend on
  // the statistics of whatever else the database holds (CI shares it between suites).
  await pool.query(
    `INSERT INTO files.shares (file_id, owner_id, user_id, role, email, created_at, updated_at)
     SELECT id, owner_id, $2, 'viewer', 'v@example.test', created_at, created_at FROM files.files WHERE owner_id = $1 LIMIT 20000`,
    [big, viewer],
  );
  await pool.query(
    `INSERT INTO files.shortcuts (id, user_id, file_id, name, created_at)
     SELECT gen_random_uuid(), $2, id, name, created_at FROM files.files WHERE owner_id = $1 LIMIT 20000`,
    [big, viewer],
  );
  await pool.query(`UPDATE files.files SET deleted_at = now() - size * interval '1 second' WHERE owner_id = $1 AND size <= 10`, [small]);
  await pool.query('ANALYZE files.files; ANALYZE files.shares; ANALYZE files.shortcuts');

  // The service asks for a page of 50 plus one; the cursor is where a page of 5 ended, so that rows follow it.
  const page = { limit: 51 } as const;
  const laterPage = async (query: FileListQuery) => ({ ...query, after: await cursorAfter(pool, { ...query, limit: 5 }) });
  const keyset = (at: string, id: string) => `(ROW(${at}, ${id}) < ROW(:cursor-at, :cursor-id))`;

  const owned = ['Limit', 'Index Scan files_owned_idx cond (owner_id = :user)'];
  const ownedLater = ['Limit', `Index Scan files_owned_idx cond ((owner_id = :user) AND ${keyset('created_at', 'id')})`];
  t.deepEqual(await plan(pool, { ...page, view: 'owned', userId: big }), owned, 'owned, 100,000 files');
  t.deepEqual(await plan(pool, { ...page, view: 'owned', userId: small }), owned, 'owned, 100 files: the same plan');
  const ownedAfter = await laterPage({ ...page, view: 'owned', userId: big });
  t.deepEqual(await plan(pool, ownedAfter), ownedLater, 'owned, a later page: the cursor is in the index condition');
  t.deepEqual(await plan(pool, { ...ownedAfter, nameContains: 'file 9' }), [ownedLater[0], `${ownedLater[1]} filter (name ~~* :q)`], 'owned with q');

  t.deepEqual(await plan(pool, { ...page, view: 'trash', userId: small }), ['Limit', 'Index Scan files_trash_idx cond (owner_id = :user)'], 'trash');
  t.deepEqual(
    await plan(pool, await laterPage({ ...page, view: 'trash', userId: small })),
    ['Limit', `Index Scan files_trash_idx cond ((owner_id = :user) AND ${keyset('deleted_at', 'id')})`],
    'trash, a later page',
  );

  // The joins: the view's own index drives (the outer, first scan) and gives the order (no
  // sort); each joined table is reached by an index on the join key, never scanned.
  for (const [view, index, key, joins] of [
    ['shared', 'shares_user_idx', keyset('created_at', 'file_id'), 1],
    ['shortcuts', 'shortcuts_user_idx', keyset('created_at', 'id'), 2],
  ] as const) {
    for (const [which, query, cond] of [
      ['first page', { ...page, view, userId: viewer }, '(user_id = :user)'],
      ['a later page', await laterPage({ ...page, view, userId: viewer }), `((user_id = :user) AND ${key})`],
    ] as const) {
      const found = await plan(pool, query);
      const label = `${view}, ${which}: ${found.join(' > ')}`;
      const scans = found.filter((line) => line.includes('Scan'));
      t.is(scans[0], `Index Scan ${index} cond ${cond}`, label);
      t.is(scans.length, 1 + joins, label);
      for (const inner of scans.slice(1)) t.regex(inner, /^Index Scan \w+ cond \(\(?(id|file_id) = sc?\.file_id\)/, label);
      t.false(found.some((line) => line.includes('Sort')), label);
    }
  }
}

test('embedded PGlite: every view and its later pages seek their index on the user and the cursor; owned has the same plan for 100,000 files as for 100', async (t) => {
  if (db.kind === 'embedded') return checkPlans(t, sql);
  // The suite runs on a real PostgreSQL: the plans must hold on the embedded one too.
  const embedded = await startEmbeddedPostgres();
  const pool = new pg.Pool({ connectionString: embedded.url, max: 2 });
  t.teardown(async () => {
    await pool.end();
    await embedded.stop();
  });
  await migrate({ url: embedded.url, schema: 'files', migrationsDir }, createLogger('files', 'silent'));
  await checkPlans(t, pool);
});

if (process.env.FILES_DATABASE_URL) {
  test('real PostgreSQL: every view and its later pages seek their index on the user and the cursor; owned has the same plan for 100,000 files as for 100', (t) =>
    checkPlans(t, sql));
} else {
  console.warn('files: query plans checked on embedded PGlite only (FILES_DATABASE_URL not set)');
}
