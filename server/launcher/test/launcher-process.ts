import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/**
 * The real launcher as `npm start` runs it (`node --import tsx server/launcher/src/main.ts`),
 * on free ports and a fresh DATA_DIR, and the operating system's view of what it started.
 */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Variables that put a launcher on real PostgreSQL and S3; removed for an embedded launcher. */
// ci: picks its own database: the launcher runs embedded here, whatever the environment says.
const REAL_VARIABLES = ['AUTH_DATABASE_URL', 'UPLOAD_DATABASE_URL', 'FILES_DATABASE_URL', 'S3_ENDPOINT', 'S3_BUCKET', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY', 'S3_PUBLIC_ENDPOINT'];
/** A start may wait for other engineers' tests on a 2-core machine: generous, but bounded. */
const READY_WITHIN_MS = 240_000;

export interface Ports {
  gateway: number;
  auth: number;
  upload: number;
  files: number;
  gatewayMetrics: number;
}

export interface Line {
  text: string;
  /** Its position in `lines`: later lines have larger indexes. */
  index: number;
}

export interface Launcher {
  pid: number;
  /** Every line the launcher printed (its own `launcher| ...` and its children's `<name>| ...`). */
  lines: string[];
  ports: Ports;
  /** The embedded PostgreSQL's port, when the launcher started one. */
  databasePort: number | undefined;
  baseUrl: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Pids from `launcher| <name> started (pid N)`, oldest first. */
  startedPids(name: string): number[];
  /** The first line at `from` or later that matches; waits for it up to `withinMs`. */
  nextLine(pattern: RegExp, from?: number, withinMs?: number): Promise<Line & { match: RegExpExecArray }>;
  /** The launcher's own lines, without the prefix, from `from` on. */
  ownLines(from?: number): Line[];
  /** Kills the launcher and everything it started that is still there (test cleanup). */
  destroy(): Promise<void>;
}

export interface LaunchOptions {
  /** Real PostgreSQL/S3 variables are removed unless `keepRealServices`. */
  env?: NodeJS.ProcessEnv;
  keepRealServices?: boolean;
  /** Its own process group, as a shell starts a foreground job. */
  detached?: boolean;
}

/**
 * Launchers this test process started and that still run. Should the test process be ended
 * (ava's timeout sends SIGTERM), they go with it, and what they started with them.
 */
const running = new Set<ReturnType<typeof spawn>>();
const killRunning = () => {
  for (const child of running) child.kill('SIGKILL');
};
process.once('exit', killRunning);
process.once('SIGTERM', () => {
  killRunning();
  process.kill(process.pid, 'SIGTERM');
});

export async function startLauncher(options: LaunchOptions = {}): Promise<Launcher> {
  const dataDir = mkdtempSync(join(tmpdir(), 'govault-launcher-test-'));
  // A served folder as it is: these tests are about processes, not about building the web app.
  const webDir = join(dataDir, 'web');
  mkdirSync(webDir);
  writeFileSync(join(webDir, 'index.html'), '<!doctype html><title>GoVault</title>');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATA_DIR: join(dataDir, 'data'),
    WEB_APP_DIR: webDir,
    HOST: '127.0.0.1',
    GATEWAY_PORT: '0',
    AUTH_PORT: '0',
    UPLOAD_PORT: '0',
    FILES_PORT: '0',
    GATEWAY_METRICS_PORT: '0',
    EMBEDDED_DB_PORT: '0',
    BCRYPT_ROUNDS: '4',
    // LOG_LEVEL stays npm start's default (info): a child's last log lines are part of how it stops.
  };
  if (!options.keepRealServices) for (const name of REAL_VARIABLES) delete env[name];
  Object.assign(env, options.env);

  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'server/launcher/src/main.ts')], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
  });
  running.add(child);
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => {
      lines.push(line);
      for (const wake of waiters) wake();
    });
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  const recent = () => lines.slice(-40).join('\n');

  const nextLine: Launcher['nextLine'] = (pattern, from = 0, withinMs = 120_000) =>
    new Promise((resolve, reject) => {
      let checked = from;
      const check = () => {
        for (; checked < lines.length; checked++) {
          const match = pattern.exec(lines[checked]!);
          if (match) {
            done();
            resolve({ text: lines[checked]!, index: checked, match });
            return;
          }
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no line matching ${pattern} within ${withinMs / 1000} s; the last lines:\n${recent()}`));
      }, withinMs);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });

  // Everything it started, remembered while it runs so that a cleanup finds orphans too; by
  // start time as well, so that a pid the system has given to another process is left alone.
  const seen = new Map<number, number>();
  const remember = () => {
    for (const pid of descendants(child.pid!)) seen.set(pid, procStat(pid)?.startTime ?? -1);
  };
  const watch = setInterval(remember, 500);
  void exited.then(() => clearInterval(watch));
  const destroy = async () => {
    remember();
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    for (const [pid, startTime] of seen) if (alive(pid) && procStat(pid)?.startTime === startTime) process.kill(pid, 'SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  };

  const failed = exited.then(({ code, signal }) => {
    throw new Error(`the launcher exited (${signal ?? `code ${code}`}) before it was ready:\n${recent()}`);
  });
  let ports: Ports;
  try {
    const { match } = await Promise.race([nextLine(/^launcher\| GoVault is up: \S+\s+(\{.*\})$/, 0, READY_WITHIN_MS), failed]);
    ports = (JSON.parse(match[1]!) as { ports: Ports }).ports;
  } catch (err) {
    await destroy();
    throw err;
  }
  failed.catch(() => undefined);
  const database = lines.map((line) => /^postgres\s*\| .*"url":"postgres:\/\/[^@]+@[^:]+:(\d+)\//.exec(line)).find((m) => m);
  return {
    pid: child.pid!,
    lines,
    ports,
    databasePort: database ? Number(database[1]) : undefined,
    baseUrl: `http://127.0.0.1:${ports.gateway}`,
    exited,
    startedPids: (name) =>
      lines.map((line) => new RegExp(`^launcher\\| ${name} started \\(pid (\\d+)\\)$`).exec(line)).filter((m) => m !== null).map((m) => Number(m[1])),
    nextLine,
    ownLines: (from = 0) =>
      lines
        .map((text, index) => ({ text, index }))
        .slice(from)
        .filter((l) => l.text.startsWith('launcher| '))
        .map((l) => ({ text: l.text.slice('launcher| '.length), index: l.index })),
    destroy,
  };
}

/** Every process below `root` in the process tree (Linux /proc), children before grandchildren. */
export function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(Number(entry));
    if (!stat) continue;
    children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), Number(entry)]);
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length) {
    for (const child of children.get(queue.shift()!) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** Whether `pid` is a running process: `kill(pid, 0)` finds it and it is not a zombie waiting to be reaped. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
  return procStat(pid)?.state !== 'Z';
}

function procStat(pid: number): { state: string; ppid: number; startTime: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses; starttime is field 22.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0]!, ppid: Number(fields[1]), startTime: Number(fields[19]) };
  } catch {
    return undefined;
  }
}

/** Whether something listens on 127.0.0.1:`port` (a listen there fails with EADDRINUSE). */
export function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve(true) : reject(err)));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(false)));
  });
}

/** Holds 127.0.0.1:`port` and drops every connection, so nothing else can serve there. */
export function occupyPort(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => socket.destroy());
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

/** Polls `condition` every 100 ms until it holds; false if it did not within `withinMs`. */
export async function eventually(condition: () => boolean | Promise<boolean>, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export const ready = (url: string) =>
  fetch(url, { signal: AbortSignal.timeout(2_000) })
    .then((response) => response.ok)
    .catch(() => false);

export interface User {
  email: string;
  password: string;
  authorization: string;
}

/** A user of the running system, talking to its gateway as any client does. */
export async function registerAndLogin(baseUrl: string): Promise<User> {
  const email = `launcher-${randomUUID()}@example.test`;
  const password = `pw-${randomUUID()}`;
  const registered = await postJson(`${baseUrl}/api/auth/register`, { email, password });
  if (registered.status !== 201) throw new Error(`register answered ${registered.status}: ${await registered.text()}`);
  return login(baseUrl, email, password);
}

/** Logs in through this gateway (each launcher's auth signs with a key of its own). */
export async function login(baseUrl: string, email: string, password: string): Promise<User> {
  const answer = await postJson(`${baseUrl}/api/auth/login`, { email, password });
  if (answer.status !== 200) throw new Error(`login answered ${answer.status}: ${await answer.text()}`);
  return { email, password, authorization: `Bearer ${((await answer.json()) as { accessToken: string }).accessToken}` };
}

const postJson = (url: string, body: unknown) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** The ids and names of the caller's files, as the owner's list shows them. */
export async function ownedFiles(baseUrl: string, user: { authorization: string }): Promise<Array<{ id: string; name: string }>> {
  const files = await fetch(`${baseUrl}/api/files?view=owned`, { headers: { authorization: user.authorization } });
  if (!files.ok) throw new Error(`the file list answered ${files.status}`);
  return ((await files.json()) as { items: Array<{ id: string; name: string }> }).items;
}

/** One tus creation-with-upload through the gateway; the id of the file it became, and whether the owner's list shows it. */
export async function uploadThroughGateway(baseUrl: string, user: { authorization: string }, name: string): Promise<{ status: number; fileId: string | null; listed: boolean }> {
  const body = Buffer.from(`bytes of ${name}`);
  const created = await fetch(`${baseUrl}/api/uploads/tus`, {
    method: 'POST',
    headers: {
      authorization: user.authorization,
      'tus-resumable': '1.0.0',
      'upload-length': String(body.length),
      'upload-metadata': `filename ${Buffer.from(name).toString('base64')}`,
      'content-type': 'application/offset+octet-stream',
    },
    body,
  });
  await created.arrayBuffer();
  const fileId = created.headers.get('govault-file-id');
  const items = await ownedFiles(baseUrl, user);
  return { status: created.status, fileId, listed: items.some((file) => file.id === fileId && file.name === name) };
}

/**
 * A tus PATCH through the gateway that is still sending its body: resolves once the gateway
 * has taken the request (it answered `100 Continue`) and the first bytes went out. The
 * request stays open until `end()`, as an upload in progress does.
 */
export async function uploadInProgress(baseUrl: string, user: { authorization: string }): Promise<{ end(): void }> {
  const tus = { authorization: user.authorization, 'tus-resumable': '1.0.0' };
  const created = await fetch(`${baseUrl}/api/uploads/tus`, {
    method: 'POST',
    headers: { ...tus, 'upload-length': String(1024 * 1024), 'upload-metadata': `filename ${Buffer.from('in-progress.bin').toString('base64')}` },
  });
  if (created.status !== 201) throw new Error(`tus creation answered ${created.status}`);
  const request = httpRequest(new URL(created.headers.get('location')!, baseUrl), {
    method: 'PATCH',
    headers: { ...tus, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0', 'content-length': String(1024 * 1024), expect: '100-continue' },
  });
  request.on('error', () => undefined).on('response', (response) => response.resume());
  await new Promise<void>((resolve, reject) => {
    request.once('continue', () => request.write(Buffer.alloc(64 * 1024), () => resolve()));
    request.once('response', (response) => reject(new Error(`the PATCH was answered at once: ${response.statusCode}`)));
    request.flushHeaders();
  });
  return { end: () => request.destroy() };
}
