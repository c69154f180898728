import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import pg from 'pg';
import { testDatabase, testServiceKeys, type ServiceProcess, type TestDatabase } from '@govault/lib/testing';
import { authServiceProcess } from './auth-process.ts';

/**
 * What the README promises about refresh tokens, read back from the auth database that
 * the real auth process writes (real PostgreSQL in real mode, embedded PGlite otherwise):
 * only their SHA-256 is stored, and an expired one is refused. The database is searched
 * whole (every table and column of schema `auth`), so the proof does not depend on what
 * the schema calls things.
 */
const keys = testServiceKeys();
const gateway = keys.issuerFor('gateway');
const password = 'correct horse battery';
/** The lifetime of the short-lived process's refresh tokens: the smallest the config takes. */
const SHORT_TTL_SECONDS = 1;

let db: TestDatabase;
let sql: pg.Pool;
let auth: ServiceProcess;
let shortLived: ServiceProcess;
const dataDirs: string[] = [];

async function startAuth(env: Record<string, string>): Promise<ServiceProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), 'govault-refresh-storage-'));
  dataDirs.push(dataDir);
  const service = await authServiceProcess(db.url, keys.dir, dataDir, { BCRYPT_ROUNDS: '4', ...env });
  await service.start();
  return service;
}

test.before(async () => {
  db = await testDatabase('auth');
  // One at a time: both apply the migrations, which take a lock anyway.
  auth = await startAuth({});
  shortLived = await startAuth({ REFRESH_TOKEN_TTL_SECONDS: String(SHORT_TTL_SECONDS) });
  sql = new pg.Pool({ connectionString: db.url, max: 2 });
});

test.after.always(async () => {
  await sql?.end();
  await auth?.kill('SIGTERM');
  await shortLived?.kill('SIGTERM');
  await db?.stop();
  for (const dir of [...dataDirs, keys.dir]) rmSync(dir, { recursive: true, force: true });
});

interface TokenPair {
  accessToken: string;
  refreshToken: string;
}

/** A POST as the gateway forwards it: a gateway-signed internal token, JSON in and out. */
async function post(service: ServiceProcess, path: string, body: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${service.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-internal-token': gateway.issue('auth'), 'x-forwarded-for': '127.0.0.1' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

async function registerAndLogin(service: ServiceProcess): Promise<{ tokens: TokenPair; receivedAt: number }> {
  const email = `refresh-${randomUUID().slice(0, 8)}@example.com`;
  const registered = await post(service, '/api/auth/register', { email, password });
  if (registered.status !== 201) throw new Error(`register answered ${registered.status}: ${JSON.stringify(registered.body)}`);
  const login = await post(service, '/api/auth/login', { email, password });
  if (login.status !== 200) throw new Error(`login answered ${login.status}: ${JSON.stringify(login.body)}`);
  return { tokens: login.body as TokenPair, receivedAt: Date.now() };
}

/** Every table and column of the auth schema, as the database itself lists them. */
async function authColumns(): Promise<Array<{ table: string; column: string }>> {
  const { rows } = await sql.query<{ table_name: string; column_name: string }>(
    `SELECT c.table_name, c.column_name FROM information_schema.columns c
       JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
      WHERE c.table_schema = 'auth' AND t.table_type = 'BASE TABLE'`,
  );
  return rows.map((r) => ({ table: r.table_name, column: r.column_name }));
}

const ident = (name: string) => pg.escapeIdentifier(name);

/**
 * Where `needle` appears in the auth database: each column (as `table.column`) one of
 * whose values, as text, contains it. bytea columns read as `\x<hex>`, so a token kept
 * as raw bytes is found through its hex form.
 */
async function columnsContaining(needles: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const { table, column } of await authColumns()) {
    const { rows } = await sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM auth.${ident(table)} WHERE EXISTS (SELECT 1 FROM unnest($1::text[]) AS needle WHERE position(needle IN ${ident(column)}::text) > 0)`,
      [needles],
    );
    if (rows[0]!.n > 0) found.push(`${table}.${column}`);
  }
  return found;
}

/** The rows (as `table.column`) whose value is exactly one of `values`, with how many rows each. */
async function columnsEqualTo(values: string[]): Promise<Record<string, number>> {
  const found: Record<string, number> = {};
  for (const { table, column } of await authColumns()) {
    const { rows } = await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM auth.${ident(table)} WHERE ${ident(column)}::text = ANY($1::text[])`, [values]);
    if (rows[0]!.n > 0) found[`${table}.${column}`] = rows[0]!.n;
  }
  return found;
}

/** A refresh token as the client got it, and the forms a stored copy of it could take. */
function storedForms(token: string): string[] {
  const raw = Buffer.from(token, 'base64url');
  return [token, raw.toString('hex'), `\\x${raw.toString('hex')}`, raw.toString('base64')];
}

/** SHA-256 of the token in every usual spelling: hex, bytea, base64, base64url. */
function sha256Forms(token: string): string[] {
  const digest = createHash('sha256').update(token).digest();
  return [digest.toString('hex'), `\\x${digest.toString('hex')}`, digest.toString('base64'), digest.toString('base64url')];
}

test('after a login and a refresh, no column holds a refresh token sent to the client; one row holds the sha256 of each', async (t) => {
  const { tokens: first } = await registerAndLogin(auth);
  const refreshed = await post(auth, '/api/auth/refresh', { refreshToken: first.refreshToken });
  t.is(refreshed.status, 200);
  const second = refreshed.body as TokenPair;
  t.not(second.refreshToken, first.refreshToken, 'the refresh rotated the token');

  for (const [name, token] of [['the login', first.refreshToken], ['the refresh', second.refreshToken]] as const) {
    t.deepEqual(await columnsContaining(storedForms(token)), [], `the refresh token from ${name} is nowhere in the database`);
    const hashed = await columnsEqualTo(sha256Forms(token));
    t.is(Object.keys(hashed).length, 1, `exactly one column holds the sha256 of the token from ${name}: ${JSON.stringify(hashed)}`);
    t.deepEqual(Object.values(hashed), [1], `and in exactly one row`);
  }
  t.deepEqual(await columnsContaining([first.accessToken, second.accessToken]), [], 'access tokens are not stored either');

  // The hash is what the server finds a token by: the newest token still refreshes.
  t.is((await post(auth, '/api/auth/refresh', { refreshToken: second.refreshToken })).status, 200);
});

test('an expired refresh token is refused with 401 unauthenticated, though its row is still there', async (t) => {
  const { tokens, receivedAt } = await registerAndLogin(shortLived);
  // The server set the expiry before it answered: past this moment the token has expired.
  const expiredBy = receivedAt + SHORT_TTL_SECONDS * 1000 + 50;
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiredBy - Date.now())));

  const refused = await post(shortLived, '/api/auth/refresh', { refreshToken: tokens.refreshToken });
  t.is(refused.status, 401);
  t.is(refused.body?.error?.code, 'unauthenticated');
  t.is(typeof refused.body?.error?.requestId, 'string');
  t.is(Object.keys(await columnsEqualTo(sha256Forms(tokens.refreshToken))).length, 1, 'the token is known to the server: it was refused for its age');

  const again = await post(shortLived, '/api/auth/refresh', { refreshToken: tokens.refreshToken });
  t.is(again.status, 401, 'and stays refused');
});
