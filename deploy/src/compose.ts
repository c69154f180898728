import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root: compose.yaml, .env.example and prometheus/ live here. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const COMPOSE_FILE = join(REPO_ROOT, 'compose.yaml');
export const ENV_EXAMPLE = join(REPO_ROOT, '.env.example');
const TOOL_DIR = join(REPO_ROOT, 'deploy/tools/compose-config');

// --- the resolved project, as `docker compose config --format json` prints it -----------

export interface ComposePort {
  target: number;
  published?: string;
  host_ip?: string;
  protocol?: string;
}

export interface ComposeMount {
  type: 'volume' | 'bind' | 'tmpfs' | string;
  source?: string;
  target: string;
  read_only?: boolean;
  volume?: { subpath?: string; nocopy?: boolean };
}

export interface ComposeDependency {
  condition: 'service_started' | 'service_healthy' | 'service_completed_successfully';
  required?: boolean;
}

export interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string };
  command?: string[] | null;
  entrypoint?: string[] | null;
  /** compose-go writes a variable set without a value as null. */
  environment?: Record<string, string | null>;
  ports?: ComposePort[];
  expose?: string[];
  volumes?: ComposeMount[];
  healthcheck?: { test?: string[]; disable?: boolean };
  depends_on?: Record<string, ComposeDependency>;
  profiles?: string[];
  network_mode?: string;
  restart?: string;
}

export interface ComposeProject {
  name: string;
  services: Record<string, ComposeService>;
  volumes?: Record<string, { name?: string; external?: boolean }>;
}

// --- deploy/tools/compose-config, built once per suite -----------------------------------

/** Where a Go toolchain is: on PATH, or where this project's machines install it. */
export function findGo(): string | undefined {
  const candidates = [...(process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, 'go')), '/usr/local/go/bin/go'];
  return candidates.find((path) => path && existsSync(path));
}

export class GoMissingError extends Error {
  constructor() {
    super('no Go toolchain (go on PATH or /usr/local/go/bin/go): deploy/tools/compose-config cannot be built');
  }
}

let builtTool: string | undefined;

/**
 * Builds compose-config into the temp folder, keyed by its sources, so that suites (and
 * runs) share one build; an unchanged tool is not built again.
 */
export function composeConfigTool(): string {
  if (builtTool) return builtTool;
  const go = findGo();
  if (!go) throw new GoMissingError();
  const sources = ['main.go', 'go.mod', 'go.sum'].map((file) => readFileSync(join(TOOL_DIR, file)));
  const hash = createHash('sha256').update(Buffer.concat(sources)).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), 'govault-compose-config');
  const binary = join(dir, `compose-config-${hash}`);
  if (!existsSync(binary)) {
    mkdirSync(dir, { recursive: true });
    // Two suites may build at once: each writes its own file, the rename is atomic.
    const draft = `${binary}.${process.pid}`;
    const build = spawnSync(go, ['build', '-o', draft, '.'], {
      cwd: TOOL_DIR,
      encoding: 'utf8',
      env: { ...process.env, GOFLAGS: '-mod=readonly', GOTOOLCHAIN: 'local' },
    });
    if (build.status !== 0) throw new Error(`go build of compose-config failed:\n${build.stderr}`);
    renameSync(draft, binary);
  }
  builtTool = binary;
  return binary;
}

export interface ComposeConfigOptions {
  /** An env file to interpolate with, like `docker compose --env-file`. */
  envFile?: string;
  /** Profiles to enable; ['*'] enables all (the smoke job is behind one). */
  profiles?: string[];
}

export interface ComposeConfigResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs compose-config on a compose file; the caller reads the status and the loader's message. */
export function runComposeConfig(composeFile: string, options: ComposeConfigOptions = {}): ComposeConfigResult {
  const args = [
    ...(options.envFile ? ['-env-file', options.envFile] : []),
    ...(options.profiles ?? []).flatMap((profile) => ['-profile', profile]),
    composeFile,
  ];
  const run = spawnSync(composeConfigTool(), args, { encoding: 'utf8' });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** The project compose would run, resolved by compose-go; throws the loader's message when the file is invalid. */
export function loadComposeProject(composeFile = COMPOSE_FILE, options: ComposeConfigOptions = { envFile: ENV_EXAMPLE, profiles: ['*'] }): ComposeProject {
  const run = runComposeConfig(composeFile, options);
  if (run.status !== 0) throw new Error(`compose-config ${composeFile}: ${run.stderr.trim()}`);
  return JSON.parse(run.stdout) as ComposeProject;
}

// --- small readers the tests and the native runner share ---------------------------------

/** A service's environment with unset (null) variables left out, as the container gets it. */
export function serviceEnv(service: ComposeService): Record<string, string> {
  return Object.fromEntries(Object.entries(service.environment ?? {}).filter((entry): entry is [string, string] => entry[1] !== null));
}

/** The services started from GoVault's image (they run its dispatcher), by compose name. */
export function govaultServices(project: ComposeProject): [string, ComposeService][] {
  const image = project.services.gateway?.image;
  return Object.entries(project.services).filter(([, service]) => image !== undefined && service.image === image);
}

/** The dispatcher's command word a GoVault container runs (compose `command: [<word>]`). */
export function commandWord(service: ComposeService): string {
  const [word, ...rest] = service.command ?? [];
  if (!word || rest.length > 0) throw new Error(`a GoVault container's command is one word, not ${JSON.stringify(service.command)}`);
  return word;
}

/** Container ports a service declares (`expose`). */
export function exposedPorts(service: ComposeService): number[] {
  return (service.expose ?? []).map(Number);
}

/** Services in an order where each comes after everything it depends on. */
export function startupOrder(project: ComposeProject, names = Object.keys(project.services)): string[] {
  const order: string[] = [];
  const visiting = new Set<string>();
  const visit = (name: string) => {
    if (order.includes(name)) return;
    if (visiting.has(name)) throw new Error(`depends_on cycle through ${name}`);
    visiting.add(name);
    for (const dependency of Object.keys(project.services[name]?.depends_on ?? {})) visit(dependency);
    visiting.delete(name);
    order.push(name);
  };
  for (const name of [...names].sort()) visit(name);
  return order;
}
