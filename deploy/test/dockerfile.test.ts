import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, matchesGlob, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DockerfileParser, type Copy, type Instruction } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';

/**
 * No Docker engine here: the Dockerfile is checked as written (parsed by dockerfile-ast,
 * the parser of VS Code's Docker support), and its runtime stage's install is replayed
 * natively to prove that the production dependency set starts GoVault.
 */
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const text = readFileSync(join(REPO, 'Dockerfile'), 'utf8');
const dockerfile = DockerfileParser.parse(text);

interface Stage {
  image: string;
  name?: string;
  instructions: Instruction[];
}

/** Instructions grouped by the FROM that starts their stage. */
function stages(): Stage[] {
  const found: Stage[] = [];
  for (const instruction of dockerfile.getInstructions()) {
    if (instruction.getKeyword() === 'FROM') {
      const [image, as, name] = instruction.getArguments().map((a) => a.getValue());
      found.push({ image: image!, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
    } else found.at(-1)?.instructions.push(instruction);
  }
  return found;
}

const runtime = () => stages().at(-1)!;
const inRuntime = (keyword: string) => runtime().instructions.filter((i) => i.getKeyword() === keyword);
/** An exec-form argument list (`["a", "b"]`), as Docker reads it. */
const execForm = (instruction: Instruction, after = '') => JSON.parse(instruction.getArgumentsContent()!.slice(after.length).trim()) as string[];
/** A shell-form RUN as one line: continuations joined. */
const shellOf = (instruction: Instruction) => instruction.getArguments().map((a) => a.getValue()).join(' ');

/** COPY --from=<stage>: its stage, or undefined for a copy from the build context. */
const fromFlag = (instruction: Instruction) => (instruction as Copy).getFlags().find((f) => f.getName() === 'from')?.getValue() ?? undefined;

/** COPY without --from: its sources are paths of the build context (the repository). */
function contextCopies(stage: Stage): Array<{ sources: string[]; destination: string }> {
  return stage.instructions
    .filter((i) => i.getKeyword() === 'COPY' && !fromFlag(i))
    .map((i) => {
      const paths = i.getArguments().map((a) => a.getValue()).filter((v) => !v.startsWith('--'));
      return { sources: paths.slice(0, -1), destination: paths.at(-1)! };
    });
}

test('the Dockerfile parses without problems and has a build stage and a runtime stage', (t) => {
  t.deepEqual(validate(text), [], 'dockerfile-utils finds no errors or warnings');
  const all = stages();
  t.true(all.length >= 2);
  t.true(all.every((s) => s.image === 'node:20-bookworm-slim'), 'every stage on the slim Node 20 image of the contract');
  t.is(runtime().image, 'node:20-bookworm-slim');
});

test('the runtime stage runs as node under tini, with the contract environment and the dispatcher', (t) => {
  const users = inRuntime('USER').map((u) => u.getArguments()[0]!.getValue());
  t.true(users.length > 0);
  t.is(users.at(-1), 'node', 'the last USER is node (uid 1000), not root');
  t.deepEqual(inRuntime('WORKDIR').map((w) => w.getArguments()[0]!.getValue()).at(-1), '/app');

  const environment = Object.fromEntries(dockerfile.getENVs().flatMap((e) => e.getProperties().map((p) => [p.getName(), p.getValue()])));
  t.like(environment, { NODE_ENV: 'production', HOST: '0.0.0.0', DATA_DIR: '/data' });

  const [entrypoint, ...more] = inRuntime('ENTRYPOINT');
  t.is(more.length, 0);
  const words = execForm(entrypoint!);
  t.deepEqual(words.slice(0, 2), ['/usr/bin/tini', '--'], 'tini is PID 1');
  t.deepEqual(words.slice(2), ['node', '--import', 'tsx', '/app/server/launcher/src/image/main.ts']);
  t.true(inRuntime('RUN').some((r) => /apt-get install [^&]*\btini\b/.test(shellOf(r))), 'tini comes from Debian');

  const setup = inRuntime('RUN').map(shellOf).join('\n');
  t.regex(setup, /mkdir -p \/data \/keys/);
  t.regex(setup, /chown node:node \/data \/keys/);
});

test('HEALTHCHECK runs the dispatcher healthcheck through govault-image, which the image installs', (t) => {
  const [healthcheck] = inRuntime('HEALTHCHECK');
  t.truthy(healthcheck);
  const content = healthcheck!.getArgumentsContent()!;
  const command = execForm(healthcheck!, content.slice(0, content.indexOf('CMD') + 3));
  t.deepEqual(command, ['govault-image', 'healthcheck']);
  const wrapper = inRuntime('RUN').map(shellOf).find((r) => r.includes('/usr/local/bin/govault-image'));
  t.truthy(wrapper);
  t.regex(wrapper!, /exec node --import tsx \/app\/server\/launcher\/src\/image\/main\.ts "\$@"/);
  t.regex(wrapper!, /chmod 755 \/usr\/local\/bin\/govault-image/);
});

test('the runtime stage installs production dependencies only, for the servers and the CLI', (t) => {
  const install = inRuntime('RUN').map(shellOf).find((r) => /\bnpm ci\b/.test(r));
  t.truthy(install);
  t.regex(install!, /--omit=dev/);
  const workspaces = [...install!.matchAll(/-w (\S+)/g)].map((m) => m[1]).sort();
  t.deepEqual(workspaces, ['cli', 'server/auth', 'server/files', 'server/gateway', 'server/launcher', 'server/lib', 'server/upload']);
  t.false(/\bnpm (install|i)\b/.test(inRuntime('RUN').map(shellOf).join('\n')), 'npm ci only: the lockfile decides');
});

test('every COPY source exists in the repository, or comes from an earlier stage', (t) => {
  const names = stages().map((s) => s.name);
  for (const stage of stages()) {
    for (const { sources } of contextCopies(stage)) {
      for (const source of sources) t.true(existsSync(join(REPO, source)), `${source} exists in the repository`);
    }
  }
  const fromStage = dockerfile.getCOPYs().filter((c) => fromFlag(c) !== undefined);
  t.true(fromStage.length > 0);
  for (const copy of fromStage) t.true(names.slice(0, -1).includes(fromFlag(copy)), `--from=${fromFlag(copy)} is an earlier stage`);
  t.true(
    runtime().instructions.some((i) => i.getKeyword() === 'COPY' && fromFlag(i) === 'build' && i.getArguments().map((a) => a.getValue()).join(' ') === '/app/web/dist web/dist'),
    'the built web app lands where the gateway serves it from (web/dist)',
  );
});

/** .dockerignore's patterns, as Docker reads them: `!` re-includes, the last match wins. */
function ignoreRules(): Array<{ pattern: string; include: boolean }> {
  return readFileSync(join(REPO, '.dockerignore'), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => (line.startsWith('!') ? { pattern: line.slice(1), include: true } : { pattern: line, include: false }));
}

/** Whether Docker leaves `path` (relative to the context) out: the path or one of its parents matches. */
function ignored(path: string, rules = ignoreRules()): boolean {
  let out = false;
  const parts = path.split('/');
  for (const rule of rules) {
    const hit = parts.some((_, i) => matchesGlob(parts.slice(0, i + 1).join('/'), rule.pattern));
    if (hit) out = !rule.include;
  }
  return out;
}

test('.dockerignore keeps dependencies, history, data, secrets and test output out of the context', (t) => {
  for (const path of ['node_modules', 'server/auth/node_modules/x', '.git', '.git/config', '.data', '.data/keys/gateway.key', '.env', '.env.local', 'server/upload/test', 'load/results/x.log', 'npm-debug.log', 'coverage', 'web/dist']) {
    t.true(ignored(path), `${path} is left out`);
  }
  for (const path of ['package.json', 'package-lock.json', 'server/gateway/src/main.ts', 'cli/src/main.ts', 'migrations/auth', 'web/src', 'web/index.html', '.env.example']) {
    t.false(ignored(path), `${path} is in the context`);
  }
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * The runtime stage replayed in a temp folder standing for /app: its context COPYs (with
 * .dockerignore applied), its `npm ci --omit=dev ...` line as written, and the build
 * stage's web/dist as a stand-in page. Then the dispatcher from there writes keys, starts
 * the gateway, and the healthcheck passes: the production dependency set is enough.
 */
test('the runtime stage install, replayed natively, starts the dispatcher, a service and its healthcheck', async (t) => {
  t.timeout(180_000);
  const app = mkdtempSync(join(tmpdir(), 'govault-image-app-'));
  t.teardown(() => rmSync(app, { recursive: true, force: true }));
  const rules = ignoreRules();
  const stage = runtime();
  const install = stage.instructions.find((i) => i.getKeyword() === 'RUN' && /\bnpm ci\b/.test(shellOf(i)))!;
  const installLine = install.getRange().start.line;

  const copy = (copies: ReturnType<typeof contextCopies>) => {
    for (const { sources, destination } of copies) {
      for (const source of sources) {
        const target = destination.endsWith('/') ? join(app, destination, source.endsWith('/') ? '' : source.split('/').at(-1)!) : join(app, destination);
        mkdirSync(join(target, '..'), { recursive: true });
        cpSync(join(REPO, source), target, { recursive: true, filter: (from) => !ignored(relative(REPO, from), rules) });
      }
    }
  };
  const before = { ...stage, instructions: stage.instructions.filter((i) => i.getRange().start.line < installLine) };
  const after = { ...stage, instructions: stage.instructions.filter((i) => i.getRange().start.line > installLine) };
  copy(contextCopies(before));
  t.false(existsSync(join(app, 'server')) && existsSync(join(app, 'server', 'gateway', 'src')), 'only manifests before the install');

  const npmCi = shellOf(install).split('&&')[0]!.trim();
  const started = Date.now();
  const installed = spawnSync('sh', ['-c', npmCi], { cwd: app, encoding: 'utf8', env: { ...process.env, NODE_ENV: 'production' } });
  t.is(installed.status, 0, installed.stderr);
  t.log(`${npmCi}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  t.false(existsSync(join(app, 'node_modules', 'ava')), 'no dev dependency installed');
  t.false(existsSync(join(app, 'node_modules', 'vite')), 'nor the web build tools');

  copy(contextCopies(after));
  t.false(existsSync(join(app, 'server', 'launcher', 'test')), '.dockerignore kept the tests out');
  mkdirSync(join(app, 'web', 'dist'), { recursive: true });
  writeFileSync(join(app, 'web', 'dist', 'index.html'), '<!doctype html><title>GoVault</title>'); // COPY --from=build

  const work = mkdtempSync(join(tmpdir(), 'govault-image-run-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const dispatcher = join(app, 'server/launcher/src/image/main.ts');
  // The image's ENV, with HOST and the container paths rewritten for this machine.
  const env = { PATH: process.env.PATH, NODE_ENV: 'production', HOST: '127.0.0.1', DATA_DIR: join(work, 'data'), GOVAULT_HEALTHZ_URL_FILE: join(work, 'healthz-url') };
  const image = (args: string[], extra: NodeJS.ProcessEnv = {}) => spawnSync(process.execPath, ['--import', 'tsx', dispatcher, ...args], { cwd: app, encoding: 'utf8', env: { ...env, ...extra } });

  const keys = image(['keys'], { KEYS_DIR: join(work, 'keys') });
  t.is(keys.status, 0, keys.stderr);
  t.true(statSync(join(work, 'keys', 'gateway', 'gateway.key')).isFile());
  t.is(image(['healthcheck']).status, 0, 'a one-shot container is healthy');

  const [port, metricsPort] = [await freePort(), await freePort()];
  const gateway = spawn(process.execPath, ['--import', 'tsx', dispatcher, 'gateway'], {
    cwd: app,
    env: { ...env, GATEWAY_PORT: String(port), GATEWAY_METRICS_PORT: String(metricsPort), INTERNAL_KEY_DIR: join(work, 'keys', 'gateway'), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  gateway.stderr!.on('data', (chunk: Buffer) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => gateway.once('exit', resolve));
  t.teardown(() => void gateway.kill('SIGKILL'));

  let healthy = false;
  for (const deadline = Date.now() + 60_000; !healthy && Date.now() < deadline && gateway.exitCode === null; ) {
    await new Promise((resolve) => setTimeout(resolve, 300));
    healthy = existsSync(env.GOVAULT_HEALTHZ_URL_FILE) && image(['healthcheck']).status === 0;
  }
  t.true(healthy, `the gateway from the replayed install answers its healthcheck\n${stderr}`);
  const page = await fetch(`http://127.0.0.1:${port}/`);
  t.is(page.status, 200);
  t.regex(await page.text(), /<title>GoVault<\/title>/, 'it serves web/dist from where the build stage puts it');
  gateway.kill('SIGTERM');
  t.is(await exited, 0, stderr);
});
