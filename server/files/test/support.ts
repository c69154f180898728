import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger, freePort, listen, parseConfig, type RunningServer } from '@govault/lib';
import { ServiceProcess, testDatabases, testServiceKeys, type TestDatabase } from '@govault/lib/testing';
import pg from 'pg';
import { buildFilesApp, filesConfigSchema, type FilesApp, type FileView } from '../src/index.ts';

/**
 * The files service over real HTTP with its real neighbours: a real database (embedded
 * PGlite unless *_DATABASE_URL are set), the real auth service as a child process (share
 * grantees are looked up there), and objects on disk.
 */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface RunningFiles {
  url: string;
  built: FilesApp;
  server: RunningServer;
  stop(): Promise<void>;
}

export interface Harness {
  keys: ReturnType<typeof testServiceKeys>;
  db: TestDatabase;
  sql: pg.Pool;
  storageDir: string;
  authUrl: string;
  files: RunningFiles;
  startFiles(env?: Record<string, string>): Promise<RunningFiles>;
  stop(): Promise<void>;
}

export async function startHarness(): Promise<Harness> {
  const keys = testServiceKeys();
  const { auth, files: filesDb } = await testDatabases(['auth', 'files']);
  const storageDir = mkdtempSync(join(tmpdir(), 'govault-files-objects-'));
  const authProcess = await startAuth(auth!.url, keys.dir);
  const startFiles = async (env: Record<string, string> = {}): Promise<RunningFiles> => {
    const config = parseConfig(filesConfigSchema, {
      FILES_DATABASE_URL: filesDb!.url,
      INTERNAL_KEY_DIR: keys.dir,
      STORAGE_DIR: storageDir,
      AUTH_URL: authProcess.url,
      HOUSEKEEPING_INTERVAL_SECONDS: '0',
      // A century: a test's housekeeping round only purges what it asks for (other suites
      // may share the database in real mode and keep old trashed rows of their own).
      TRASH_RETENTION_SECONDS: String(100 * 365 * 24 * 3600),
      LOG_LEVEL: 'silent',
      ...env,
    });
    const built = await buildFilesApp(config, createLogger('files', 'silent'));
    const server = await listen(built.app, '127.0.0.1', 0);
    return {
      url: `http://127.0.0.1:${server.port}`,
      built,
      server,
      stop: async () => {
        await server.close();
        await built.close();
      },
    };
  };
  const files = await startFiles();
  const sql = new pg.Pool({ connectionString: filesDb!.url, max: 4 });
  const others: RunningFiles[] = [];
  return {
    keys,
    db: filesDb!,
    sql,
    storageDir,
    authUrl: authProcess.url,
    files,
    startFiles: async (env) => {
      const running = await startFiles(env);
      others.push(running);
      return running;
    },
    stop: async () => {
      for (const running of [files, ...others]) await running.stop();
      await sql.end();
      await authProcess.kill('SIGTERM');
      await auth!.stop();
      await filesDb!.stop();
    },
  };
}

/** The real auth service as a child process: sharing looks grantees up through it. */
async function startAuth(databaseUrl: string, keyDir: string): Promise<ServiceProcess> {
  const port = await freePort();
  const auth = new ServiceProcess('auth', port, join(ROOT, 'server/auth/src/main.ts'), {
    ...process.env,
    AUTH_PORT: String(port),
    AUTH_DATABASE_URL: databaseUrl,
    INTERNAL_KEY_DIR: keyDir,
    AUTH_SIGNING_KEY_DIR: mkdtempSync(join(tmpdir(), 'govault-auth-keys-')),
    BCRYPT_ROUNDS: '4',
    LOG_LEVEL: 'warn',
  }, '/readyz', ROOT);
  await auth.start();
  return auth;
}

// --- clients -----------------------------------------------------------------------------

export interface TestUser {
  id: string;
  email: string;
  displayName: string;
}

/** Registers a real user in auth, as the gateway would forward the request. */
export async function createUser(h: Harness, displayName = 'Someone', email = `user-${randomUUID()}@Example.test`): Promise<TestUser> {
  const response = await fetch(`${h.authUrl}/api/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-internal-token': h.keys.issuerFor('gateway').issue('auth') },
    body: JSON.stringify({ email, password: 'correct horse battery', displayName }),
  });
  if (response.status !== 201) throw new Error(`register answered ${response.status}: ${await response.text()}`);
  const user = (await response.json()) as TestUser;
  return { id: user.id, email: user.email, displayName };
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  headers?: Record<string, string>;
  base?: string;
}

/**
 * A request as the gateway forwards it: signed by the gateway for the files service, with
 * the user bound into the token; `undefined` user = an anonymous request (public routes).
 */
export function call(h: Harness, userId: string | undefined, path: string, options: RequestOptions = {}) {
  const token = h.keys.issuerFor('gateway').issue('files', userId ? { userId } : {});
  const headers: Record<string, string> = { 'x-internal-token': token, ...options.headers };
  let body: string | undefined;
  if (options.body !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  }
  return fetch(`${options.base ?? h.files.url}${path}`, { method: options.method ?? 'GET', headers, body, redirect: 'manual' });
}

export async function json<T = unknown>(response: Response | Promise<Response>): Promise<{ status: number; body: T }> {
  const r = await response;
  const text = await r.text();
  return { status: r.status, body: (text ? JSON.parse(text) : undefined) as T };
}

export interface ErrorBody {
  error: { code: string; message: string; requestId?: string };
}

/** Registers a file as the upload service would, and writes its bytes where the tus file store would. */
export async function newFile(h: Harness, ownerId: string, overrides: Record<string, unknown> = {}, bytes = 'hello'): Promise<FileView> {
  const uploadId = randomUUID().replaceAll('-', '');
  const body = { uploadId, ownerId, name: 'notes.txt', size: Buffer.byteLength(bytes), contentType: 'text/plain', storageKey: uploadId, ...overrides };
  const response = await fetch(`${h.files.url}/internal/files`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-internal-token': h.keys.issuerFor('upload').issue('files') },
    body: JSON.stringify(body),
  });
  if (response.status !== 201) throw new Error(`register answered ${response.status}: ${await response.text()}`);
  const path = join(h.storageDir, body.storageKey as string);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, bytes);
  writeFileSync(`${path}.json`, '{}');
  return (await response.json()) as FileView;
}

export async function listAll<T = FileView>(h: Harness, userId: string, query: string, onPage?: () => Promise<void>): Promise<T[][]> {
  const pages: T[][] = [];
  let cursor: string | null = null;
  do {
    const suffix: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    const { status, body } = await json<{ items: T[]; nextCursor: string | null }>(call(h, userId, `/api/files?${query}${suffix}`));
    if (status !== 200) throw new Error(`list answered ${status}: ${JSON.stringify(body)}`);
    pages.push(body.items);
    cursor = body.nextCursor;
    await onPage?.();
  } while (cursor && pages.length < 1000);
  return pages;
}
