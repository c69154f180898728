import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import pg from 'pg';
import { commandWord, exposedPorts, findGo, REPO_ROOT, serviceEnv, startupOrder, type ComposeProject, type ComposeService } from './compose.ts';
import { listeningPorts } from './compose-wiring.ts';
import type { DeployedService } from './service-env.ts';
import { nativeEnv, nativeValue, type ListenVariables, type NativeDatabase, type NativePlace } from './compose-native-rewrite.ts';

/**
 * compose.yaml run without Docker: each GoVault container as a local process started the
 * way the image starts it (its ENTRYPOINT, then compose's command word), with the
 * environment compose gives it through nativeEnv; the stores as the real ones here
 * (PostgreSQL, Redis) or a versitygw of its own started with the s3 container's own
 * command and environment. Services start in depends_on order, each waited for as compose
 * waits: healthy (its healthcheck) or, for a job, exited 0.
 */

/** What the image adds around compose's command and environment, as its Dockerfile says. */
export interface ImageSpec {
  /** ENTRYPOINT, without the init (tini) in front: what it execs. */
  entrypoint: string[];
  env: Record<string, string>;
  workdir: string;
}

/** Folders the image has of its own (the Dockerfile makes /data and /keys); /tmp is each container's own. */
const IMAGE_FOLDERS = ['/data', '/keys', '/tmp'];

/** Reads the runtime (last) stage of a Dockerfile: its ENTRYPOINT (exec form), ENV and WORKDIR. */
export function readImageSpec(dockerfile: string): ImageSpec {
  const text = readFileSync(dockerfile, 'utf8').replace(/\\\n/g, ' ');
  const stage = text.split(/^FROM /m).pop()!;
  const spec: ImageSpec = { entrypoint: [], env: {}, workdir: '/' };
  for (const line of stage.split('\n')) {
    const [instruction, rest = ''] = line.trim().split(/\s+(.*)/s);
    if (instruction === 'ENTRYPOINT') spec.entrypoint = JSON.parse(rest) as string[];
    if (instruction === 'WORKDIR') spec.workdir = rest.trim();
    if (instruction === 'ENV') for (const pair of rest.trim().split(/\s+/)) spec.env[pair.slice(0, pair.indexOf('='))] = pair.slice(pair.indexOf('=') + 1);
  }
  if (spec.entrypoint[0]?.endsWith('/tini')) spec.entrypoint = spec.entrypoint.slice(spec.entrypoint[1] === '--' ? 2 : 1);
  if (spec.entrypoint.length === 0) throw new Error(`${dockerfile} has no ENTRYPOINT in exec form`);
  return spec;
}

/** The listen variable of each GoVault service, in the order listeningPorts answers its ports. */
const LISTEN_VARIABLES: Record<string, string[]> = {
  gateway: ['GATEWAY_PORT', 'GATEWAY_METRICS_PORT'],
  auth: ['AUTH_PORT'],
  upload: ['UPLOAD_PORT'],
  files: ['FILES_PORT'],
};

/** Services of compose.yaml the native run leaves out: operators' tools, not part of GoVault's path (Grafana's binaries are AGPL, not used here). */
const NOT_RUN = new Set(['prometheus', 'grafana']);

export interface NativeOptions {
  /** A superuser URL of the real PostgreSQL (trust auth here); databases and roles are made through it. */
  adminDatabaseUrl: string;
  /** The real Redis that stands in for compose's redis service. */
  redisUrl: string;
  versitygw: string;
  /** How long a service may take to become healthy, or a job to finish. */
  timeoutMs?: number;
}

type Kind = 'govault' | 'postgres' | 'versitygw' | 'redis';

function kindOf(project: ComposeProject, service: ComposeService): Kind {
  if (service.image === project.services.gateway?.image) return 'govault';
  if (service.image?.startsWith('postgres:')) return 'postgres';
  if (service.image?.startsWith('versity/versitygw:')) return 'versitygw';
  if (service.image?.startsWith('redis:')) return 'redis';
  throw new Error(`no native stand-in for image ${service.image}`);
}

export interface JobResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** One local process standing in for a container. */
class NativeProcess {
  readonly output: string[] = [];
  readonly exited: Promise<number | null>;
  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    const keep = (stream: string) => (chunk: Buffer) => {
      this.output.push(...chunk.toString('utf8').split('\n').filter(Boolean).map((line) => `${stream}| ${line}`));
      if (this.output.length > 400) this.output.splice(0, this.output.length - 400);
    };
    child.stdout?.on('data', keep('out'));
    child.stderr?.on('data', keep('err'));
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? null : code))));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  tail(lines = 40): string {
    return this.output.slice(-lines).join('\n');
  }

  /** SIGTERM to its process group (it may have children), SIGKILL if it is still there after a while. */
  async stop(): Promise<void> {
    if (!this.running || this.child.pid === undefined) return;
    const group = -this.child.pid;
    try {
      process.kill(group, 'SIGTERM');
    } catch {
      return;
    }
    const killed = setTimeout(() => {
      try {
        process.kill(group, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, 5_000);
    await this.exited;
    clearTimeout(killed);
  }
}

export class NativeCompose {
  private readonly processes = new Map<string, NativeProcess>();
  /** Appended to the names of the databases and roles this run makes. */
  readonly suffix = `n${randomBytes(4).toString('hex')}`;
  private readonly root = mkdtempSync(join(tmpdir(), 'govault-compose-native-'));
  private readonly databases = new Map<string, NativeDatabase>();
  private readonly madeDatabases: Array<{ role: string; database: string }> = [];
  /** `<service>:<container port>` → host:port, for every service the run starts or stands in for. */
  private readonly services = new Map<string, string>();
  /** Published host port → host:port. */
  private readonly published = new Map<number, string>();
  private readonly timeoutMs: number;
  private readonly image = readImageSpec(join(REPO_ROOT, 'Dockerfile'));
  /**
   * Each planned port stays bound here until its service is spawned: other test suites on
   * this machine start servers too, and a port merely found free could be taken in the
   * seconds before the service that was meant to get it listens.
   */
  private readonly reserved = new Map<string, Server>();

  private constructor(
    readonly project: ComposeProject,
    private readonly options: NativeOptions,
  ) {
    this.timeoutMs = options.timeoutMs ?? 60_000;
  }

  /** Plans addresses and starts every service but the profile-only jobs (smoke) and NOT_RUN, in depends_on order. */
  static async start(project: ComposeProject, options: NativeOptions): Promise<NativeCompose> {
    const run = new NativeCompose(project, options);
    try {
      await run.plan();
      await run.startAll();
      return run;
    } catch (err) {
      await run.stop();
      throw err;
    }
  }

  /** The native address of `<service>:<container port>`. */
  address(service: string, containerPort: number): string {
    const address = this.services.get(`${service}:${containerPort}`);
    if (!address) throw new Error(`${service}:${containerPort} is not part of the native run`);
    return address;
  }

  /** The environment and command a compose service gets natively (the rewrites are nativeEnv's and nativeValue's). */
  nativeSpec(name: string, overrides: Record<string, string> = {}): { command: string[]; env: Record<string, string> } {
    const service = this.project.services[name]!;
    const kind = kindOf(this.project, service);
    const place = this.placeOf(name, 'environment');
    if (kind === 'govault') {
      const word = commandWord(service);
      // Each container has its own /tmp: the dispatcher notes the healthz URL there.
      const env = { ...this.image.env, TMPDIR: '/tmp', GOVAULT_HEALTHZ_URL_FILE: '/tmp/govault-healthz-url', ...serviceEnv(service), ...overrides };
      return { command: [...this.image.entrypoint, word].map((arg) => nativeValue(arg, place)), env: nativeEnv(name, env, this.listenVariables(name), place) };
    }
    if (kind === 'versitygw') {
      const env = { ...serviceEnv(service), ...overrides };
      // The image's entrypoint runs `versitygw <command>` when it is given one.
      return { command: [this.options.versitygw, ...(service.command ?? []).map((arg) => nativeValue(arg, place))], env: nativeEnv(name, env, this.listenVariables(name), place) };
    }
    throw new Error(`${name} (${kind}) is not started as a process`);
  }

  /** Runs a one-shot job (e.g. smoke) to its end, as `docker compose run` would. */
  async runJob(name: string, overrides: Record<string, string> = {}): Promise<JobResult> {
    const job = await this.spawnService(name, overrides);
    const code = await withTimeout(job.exited, this.timeoutMs * 3, `${name} did not finish`);
    this.processes.delete(name);
    const lines = (stream: string) => job.output.filter((line) => line.startsWith(`${stream}| `)).map((line) => line.slice(5)).join('\n');
    return { code, stdout: lines('out'), stderr: lines('err') };
  }

  /** Stops a long-running service and starts it again with some variables changed (a broken wiring, on purpose). */
  async restart(name: string, overrides: Record<string, string>): Promise<void> {
    await this.processes.get(name)?.stop();
    this.processes.delete(name);
    await this.spawnService(name, overrides);
    await this.healthy(name);
  }

  /** Stops every process (last started first) and drops the databases and folders it made. */
  async stop(): Promise<void> {
    for (const process of [...this.processes.values()].reverse()) await process.stop();
    this.processes.clear();
    for (const holder of this.reserved.values()) holder.close();
    this.reserved.clear();
    if (this.madeDatabases.length > 0) {
      await this.admin(this.madeDatabases.flatMap(({ role, database }) => [`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(database)} WITH (FORCE)`, `DROP ROLE IF EXISTS ${pg.escapeIdentifier(role)}`]));
      this.madeDatabases.length = 0;
    }
    rmSync(this.root, { recursive: true, force: true });
  }

  /** The host folder standing in for a named volume. */
  volumeDir(volume: string): string {
    return join(this.root, 'volumes', volume);
  }

  /** Recent output of every process, for a failure message. */
  logs(): string {
    return [...this.processes.values()].map((p) => `--- ${p.name}\n${p.tail()}`).join('\n');
  }

  // --- planning ----------------------------------------------------------------------------

  private toRun(): string[] {
    return Object.entries(this.project.services)
      .filter(([name, service]) => !NOT_RUN.has(name) && (service.profiles ?? []).length === 0)
      .map(([name]) => name);
  }

  /** Ports a service listens on, by container port. */
  private containerPorts(name: string): number[] {
    const service = this.project.services[name]!;
    switch (kindOf(this.project, service)) {
      case 'govault': {
        const word = commandWord(service);
        return LISTEN_VARIABLES[word] ? listeningPorts(word as DeployedService, serviceEnv(service)) : [];
      }
      case 'postgres':
        return [5432];
      case 'redis':
        return [6379];
      case 'versitygw':
        return exposedPorts(service);
    }
  }

  private listenVariables(name: string): ListenVariables {
    const service = this.project.services[name]!;
    if (kindOf(this.project, service) === 'versitygw') return new Map([['VGW_PORT', exposedPorts(service)[0]!]]);
    const word = commandWord(service);
    const ports = this.containerPorts(name);
    return new Map((LISTEN_VARIABLES[word] ?? []).map((variable, i) => [variable, ports[i]!]));
  }

  private async plan(): Promise<void> {
    const redis = new URL(this.options.redisUrl);
    const pgAddress = new URL(this.options.adminDatabaseUrl).host || '127.0.0.1:5432';
    const processes = this.toRun().filter((name) => ['govault', 'versitygw'].includes(kindOf(this.project, this.project.services[name]!)));
    const wanted = processes.flatMap((name) => this.containerPorts(name).map((port) => `${name}:${port}`));
    for (const key of wanted) {
      const holder = await reservePort();
      this.reserved.set(key, holder);
      this.services.set(key, `127.0.0.1:${(holder.address() as { port: number }).port}`);
    }
    for (const [name, service] of Object.entries(this.project.services)) {
      const kind = NOT_RUN.has(name) ? undefined : kindOf(this.project, service);
      if (kind === 'redis') this.services.set(`${name}:6379`, `${redis.hostname}:${redis.port || 6379}`);
      if (kind === 'postgres') {
        this.databases.set(name, { address: pgAddress, suffix: this.suffix });
        this.services.set(`${name}:5432`, pgAddress);
      }
      for (const port of service.ports ?? []) {
        const address = this.services.get(`${name}:${port.target}`);
        if (address && port.published) this.published.set(Number(port.published), address);
      }
    }
  }

  /** Where a service's values point: its loopback means the published ports (environment) or its own ports (healthcheck). */
  private placeOf(name: string, where: 'environment' | 'healthcheck'): NativePlace {
    const service = this.project.services[name]!;
    const own = new Map(this.containerPorts(name).map((port) => [port, this.address(name, port)]));
    const container = join(this.root, 'containers', name);
    const paths: Array<[string, string]> = [];
    for (const mount of service.volumes ?? []) {
      if (mount.type !== 'volume' || !mount.source) continue;
      paths.push([mount.target, join(this.root, 'volumes', mount.source, mount.volume?.subpath ?? '')]);
    }
    const govault = kindOf(this.project, service) === 'govault';
    for (const folder of govault ? IMAGE_FOLDERS : ['/tmp']) if (!paths.some(([target]) => target === folder)) paths.push([folder, join(container, folder)]);
    for (const [, host] of paths) mkdirSync(host, { recursive: true });
    // The image's WORKDIR holds the repository as the Dockerfile copies it.
    if (govault) paths.push([this.image.workdir, REPO_ROOT.replace(/\/$/, '')]);
    return { services: this.services, loopback: where === 'healthcheck' ? own : this.published, databases: this.databases, paths };
  }

  // --- starting ----------------------------------------------------------------------------

  private async startAll(): Promise<void> {
    const names = this.toRun();
    const started = new Map<string, Promise<void>>();
    for (const name of startupOrder(this.project, names)) {
      const service = this.project.services[name]!;
      const dependencies = Object.entries(service.depends_on ?? {}).map(([target, dependency]) => {
        const ready = started.get(target);
        if (!ready) throw new Error(`${name} depends on ${target}, which the native run does not start`);
        return ready.then(() => (dependency.condition === 'service_completed_successfully' ? this.completed(target) : undefined));
      });
      started.set(name, Promise.all(dependencies).then(() => this.startOne(name)));
    }
    // Every start settles before the first failure is thrown, so stop() finds them all.
    const outcomes = await Promise.allSettled(started.values());
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private readonly jobs = new Map<string, Promise<number | null>>();

  private async startOne(name: string): Promise<void> {
    const service = this.project.services[name]!;
    const kind = kindOf(this.project, service);
    if (kind === 'postgres') return this.createDatabase(serviceEnv(service));
    if (kind === 'redis') return redisAnswers(this.options.redisUrl);
    const started = await this.spawnService(name);
    if (service.restart === 'no') {
      this.jobs.set(name, started.exited);
      return;
    }
    await this.healthy(name);
  }

  /** A job that exited 0 (compose's service_completed_successfully). */
  private async completed(name: string): Promise<void> {
    const code = await withTimeout(this.jobs.get(name)!, this.timeoutMs, `${name} did not finish`);
    if (code !== 0) throw new Error(`${name} exited with ${code}:\n${this.processes.get(name)?.tail()}`);
  }

  private async spawnService(name: string, overrides: Record<string, string> = {}): Promise<NativeProcess> {
    for (const port of this.containerPorts(name)) {
      const holder = this.reserved.get(`${name}:${port}`);
      this.reserved.delete(`${name}:${port}`);
      if (holder) await new Promise((resolve) => holder.close(resolve));
    }
    const { command, env } = this.nativeSpec(name, overrides);
    const [program, ...args] = command;
    const child = spawn(program === 'node' ? process.execPath : program!, args, {
      cwd: REPO_ROOT, // the image's WORKDIR /app is the repository
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const native = new NativeProcess(name, child);
    this.processes.set(name, native);
    return native;
  }

  /**
   * Healthy as compose sees it: its healthcheck command exits 0. The URL in it is polled
   * first (cheaper than starting the command every time), then the command itself is run.
   */
  private async healthy(name: string): Promise<void> {
    const test = this.project.services[name]!.healthcheck?.test ?? [];
    if (test[0] !== 'CMD') throw new Error(`${name}: a healthcheck test in CMD form is expected, not ${JSON.stringify(test)}`);
    const place = this.placeOf(name, 'healthcheck');
    const command = test.slice(1).map((arg) => nativeValue(arg, place));
    const url = command.find((arg) => /^https?:\/\//.test(arg));
    if (!url) throw new Error(`${name}: its healthcheck names no URL to wait for (${command.join(' ')})`);
    const process = this.processes.get(name)!;
    const deadline = Date.now() + this.timeoutMs;
    // A GoVault service says which port it took: an answer from the port alone could be
    // another suite's server that got there first (this one then fails to listen).
    const port = this.address(name, this.containerPorts(name)[0]!).split(':').pop();
    const listening = () =>
      kindOf(this.project, this.project.services[name]!) !== 'govault' || process.output.some((line) => line.includes('listening') && line.includes(`"port":${port},`));
    while (!((await answers200(url)) && listening())) {
      if (!process.running) throw new Error(`${name} exited with ${process.child.exitCode} before it was healthy:\n${process.tail()}`);
      if (Date.now() > deadline) throw new Error(`${name} not healthy within ${this.timeoutMs} ms (${url}):\n${process.tail()}`);
      await sleep(200);
    }
    if (!process.running) throw new Error(`${name} exited right after its URL answered:\n${process.tail()}`);
    const [program, ...args] = command;
    const check = spawn(program === 'node' ? globalThis.process.execPath : program!, args, { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    check.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve, reject) => check.once('exit', resolve).once('error', reject));
    if (code !== 0) throw new Error(`${name}'s healthcheck (${command.join(' ')}) exited with ${code}: ${stderr}`);
  }

  /** As the postgres image does on first start with POSTGRES_USER/PASSWORD/DB: a role that owns its database (names suffixed). */
  private async createDatabase(env: Record<string, string>): Promise<void> {
    const role = `${env.POSTGRES_USER}_${this.suffix}`;
    const database = `${env.POSTGRES_DB}_${this.suffix}`;
    this.madeDatabases.push({ role, database });
    await this.admin([
      `CREATE ROLE ${pg.escapeIdentifier(role)} LOGIN PASSWORD ${pg.escapeLiteral(env.POSTGRES_PASSWORD ?? '')}`,
      `CREATE DATABASE ${pg.escapeIdentifier(database)} OWNER ${pg.escapeIdentifier(role)}`,
    ]);
  }

  private async admin(statements: string[]): Promise<void> {
    const client = new pg.Client({ connectionString: this.options.adminDatabaseUrl });
    await client.connect();
    try {
      for (const sql of statements) await client.query(sql);
    } finally {
      await client.end();
    }
  }
}

// --- what the native run needs from this machine ------------------------------------------

/** The versitygw binary: on PATH, or where `go install` puts it. */
export function findVersitygw(): string | undefined {
  const onPath = (process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, 'versitygw'));
  const go = findGo();
  const gopath = go ? execFileSync(go, ['env', 'GOPATH'], { encoding: 'utf8' }).trim() : undefined;
  return [...onPath, ...(gopath ? [join(gopath, 'bin', 'versitygw')] : [])].find((path) => existsSync(path));
}

/** A superuser URL of the real PostgreSQL: the server the run's *_DATABASE_URL point at, else the local one. */
export function adminDatabaseUrl(env = process.env): string {
  const url = new URL(env.AUTH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  url.pathname = '/postgres';
  return url.toString();
}

/** What is missing for a native run, in words (empty: all there). */
export async function missingForNativeRun(options: NativeOptions | { adminDatabaseUrl: string; redisUrl: string; versitygw?: string }): Promise<string[]> {
  const missing: string[] = [];
  if (!options.versitygw) missing.push('versitygw (go install github.com/versity/versitygw/cmd/versitygw@v1.7.0)');
  const client = new pg.Client({ connectionString: options.adminDatabaseUrl, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.end();
  } catch (err) {
    missing.push(`PostgreSQL at ${new URL(options.adminDatabaseUrl).host} (${(err as Error).message})`);
  }
  await redisAnswers(options.redisUrl).catch((err: Error) => missing.push(`Redis at ${options.redisUrl} (${err.message})`));
  return missing;
}

async function redisAnswers(redisUrl: string): Promise<void> {
  const url = new URL(redisUrl);
  await new Promise<void>((resolve, reject) => {
    const socket = connect({ host: url.hostname, port: Number(url.port || 6379) });
    socket.setTimeout(3_000, () => socket.destroy(new Error('timed out')));
    socket.once('error', reject);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.end();
      if (data.toString().startsWith('+PONG')) resolve();
      else reject(new Error(`answered ${data.toString().trim()}`));
    });
  });
}

async function answers200(url: string): Promise<boolean> {
  try {
    const answer = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    await answer.body?.cancel();
    return answer.status === 200;
  } catch {
    return false;
  }
}

/** A port of its own on loopback, held by a listening server until released. */
function reservePort(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const holder = createServer();
    holder.once('error', reject);
    holder.listen(0, '127.0.0.1', () => resolve(holder));
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${message} within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
