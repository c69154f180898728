import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePort } from '@govault/lib';
import { getJson, postJson } from './client.ts';
import { relay, type Relay } from './cli-relay.ts';
import { ROOT, startSystem, type Mode, type RunningSystem } from './system.ts';

export const MiB = 1024 * 1024;
export const CLI_BIN = join(ROOT, 'cli', 'bin', 'govault.mjs');

/**
 * GoVault as `npm start` runs it, with the CLI's traffic on counting relays: PUBLIC_URL
 * names the relay in front of the gateway, so the URLs the server emits (tus Location,
 * embedded part URLs) lead back through it; in real mode S3_PUBLIC_ENDPOINT names a relay
 * in front of S3, so presigned part PUTs and downloads cross that one. SigV4 signs the Host,
 * which stays the relay's host:port on the way through, so the signatures verify.
 */
export interface CliStack {
  mode: Mode;
  system: RunningSystem;
  /** The gateway, straight (for the test's own API checks, which must not be counted). */
  baseUrl: string;
  /** The relay in front of the gateway: the CLI's GOVAULT_SERVER. */
  gateway: Relay;
  /** Real mode: the relay in front of S3 that presigned URLs name. */
  s3?: Relay;
  stop(): Promise<void>;
}

async function startCliStack(mode: Mode, extraEnv: NodeJS.ProcessEnv): Promise<CliStack> {
  const gatewayPort = await freePort();
  const gateway = await relay({ port: gatewayPort });
  let s3: Awaited<ReturnType<typeof relay>> | undefined;
  const env: NodeJS.ProcessEnv = { GATEWAY_PORT: String(gatewayPort), PUBLIC_URL: gateway.url, ...extraEnv };
  if (mode === 'real') {
    const endpoint = new URL(process.env.S3_ENDPOINT!);
    s3 = await relay({ port: Number(endpoint.port || 80), host: endpoint.hostname });
    env.S3_PUBLIC_ENDPOINT = s3.url;
  }
  const system = await startSystem(mode, env).catch(async (err) => {
    await gateway.close();
    await s3?.close();
    throw err;
  });
  return {
    mode,
    system,
    baseUrl: system.baseUrl,
    gateway,
    s3,
    stop: async () => {
      await system.stop();
      await gateway.close();
      await s3?.close();
    },
  };
}

/** One stack per mode for a whole test file (as systemPerMode), stopped by `stopAll`. */
export function cliStackPerMode(extraEnv: NodeJS.ProcessEnv = {}) {
  const stacks = new Map<Mode, Promise<CliStack>>();
  return {
    stackFor(mode: Mode): Promise<CliStack> {
      if (!stacks.has(mode)) stacks.set(mode, startCliStack(mode, extraEnv));
      return stacks.get(mode)!;
    },
    async stopAll(): Promise<void> {
      killStartedClis();
      for (const stack of stacks.values()) await (await stack.catch(() => undefined))?.stop();
      for (const dir of scratchFolders) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface RunningCli {
  child: ChildProcess;
  /** stdout lines so far. */
  lines: string[];
  done: Promise<CliResult>;
}

const started = new Set<ChildProcess>();

/** Every CLI this file started and that still runs, by its own handle (never by name). */
function killStartedClis(): void {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** `govault ARGS` as a child process, with no terminal: stdin, stdout and stderr are pipes. */
export function startCli(args: string[], env: NodeJS.ProcessEnv, input?: string): RunningCli {
  const began = Date.now();
  const child = spawn(process.execPath, [CLI_BIN, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  started.add(child);
  const lines: string[] = [];
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', (s: string) => (stdout += s));
  child.stderr!.on('data', (s: string) => (stderr += s));
  createInterface({ input: child.stdout! }).on('line', (line) => lines.push(line));
  child.stdin!.on('error', () => undefined);
  child.stdin!.end(input ?? '');
  const done = new Promise<CliResult>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      started.delete(child);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - began });
    });
  });
  return { child, lines, done };
}

export const runCli = (args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<CliResult> => startCli(args, env, input).done;

/** A CLI user on a machine of its own: fresh config and state folders, HOME too. */
export interface CliUser {
  email: string;
  password: string;
  /** For the test's own API calls (straight to the gateway). */
  auth: { Authorization: string };
  /** The CLI's environment: GOVAULT_SERVER is the gateway relay. */
  env: NodeJS.ProcessEnv;
  home: string;
  run(args: string[], input?: string): Promise<CliResult>;
  start(args: string[]): RunningCli;
  cleanup(): void;
}

const scratchFolders = new Set<string>();

/** A scratch folder of the test's own; removed by `stopAll` whatever happened (a user's home also by its `cleanup`). */
export function scratch(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `govault-clitest-${label}-`));
  scratchFolders.add(dir);
  return dir;
}

export function cliEnv(home: string, server: string | undefined): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: home,
    XDG_CONFIG_HOME: join(home, 'config'),
    XDG_STATE_HOME: join(home, 'state'),
    ...(server ? { GOVAULT_SERVER: server } : {}),
  };
}

/** Registers a user over the API, then signs the CLI in as them with `login --email E --password-stdin`. */
export async function cliUser(stack: CliStack, label: string): Promise<CliUser> {
  const email = `cli-${label}-${randomUUID()}@example.test`;
  const password = `pw-${randomUUID()}`;
  const registered = await postJson(`${stack.baseUrl}/api/auth/register`, { email, password, displayName: `CLI ${label}` });
  if (registered.status !== 201) throw new Error(`register answered ${registered.status}: ${JSON.stringify(registered.body)}`);
  const login = await postJson(`${stack.baseUrl}/api/auth/login`, { email, password });
  if (login.status !== 200) throw new Error(`login answered ${login.status}`);
  const home = scratch(label);
  const env = cliEnv(home, stack.gateway.url);
  const user: CliUser = {
    email,
    password,
    auth: { Authorization: `Bearer ${(login.body as { accessToken: string }).accessToken}` },
    env,
    home,
    run: (args, input) => runCli(args, env, input),
    start: (args) => startCli(args, env),
    cleanup: () => rmSync(home, { recursive: true, force: true }),
  };
  const signedIn = await user.run(['login', '--email', email, '--password-stdin'], `${password}\n`);
  if (signedIn.code !== 0) throw new Error(`govault login exited ${signedIn.code}: ${signedIn.stderr}`);
  return user;
}

export interface ListedFile {
  id: string;
  name: string;
  size: number;
  checksum: string | null;
}

export interface Unfinished {
  id: string;
  mode: 'tus' | 'direct';
  name: string;
  size: number | null;
  offset: number;
}

export async function ownedFiles(stack: CliStack, user: CliUser): Promise<ListedFile[]> {
  const answer = await getJson<{ items: ListedFile[] }>(`${stack.baseUrl}/api/files?view=owned&limit=100`, user.auth);
  if (answer.status !== 200) throw new Error(`GET /api/files answered ${answer.status}`);
  return answer.body.items;
}

export async function unfinishedUploads(stack: CliStack, user: CliUser): Promise<Unfinished[]> {
  const answer = await getJson<{ items: Unfinished[] }>(`${stack.baseUrl}/api/uploads?state=incomplete`, user.auth);
  if (answer.status !== 200) throw new Error(`GET /api/uploads answered ${answer.status}`);
  return answer.body.items;
}

/** The SHA-256 of a file's content as the API serves it (following S3's redirect), read straight from the gateway. */
export async function contentSha256(stack: CliStack, user: CliUser, id: string): Promise<string> {
  const answer = await fetch(`${stack.baseUrl}/api/files/${id}/content`, { headers: user.auth });
  if (!answer.ok) throw new Error(`GET content answered ${answer.status}`);
  return sha256(Buffer.from(await answer.arrayBuffer()));
}

export const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

export function sha256OfFile(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/** Writes `size` random bytes at `path` (folders made) and returns their SHA-256. */
export function writeRandomFile(path: string, size: number): string {
  mkdirSync(dirname(path), { recursive: true });
  const data = randomBytes(size);
  writeFileSync(path, data);
  return sha256(data);
}

/** The `--json` lines of a run, parsed (a line that is not JSON throws, naming it). */
export function jsonLines(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new Error(`not a JSON line on stdout: ${JSON.stringify(line)}`);
      }
    });
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns something truthy, or throws after `timeoutMs` saying what it waited for. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 60_000, everyMs = 100): Promise<T> {
  const giveUpAt = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > giveUpAt) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** SIGKILLs a running CLI and waits until it is gone. */
export async function kill(cli: RunningCli): Promise<CliResult> {
  cli.child.kill('SIGKILL');
  return cli.done;
}
