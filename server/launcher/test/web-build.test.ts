import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { ensureWebAppBuilt } from '../../../web/build.ts';

/** ensureWebAppBuilt on a small Vite project of its own, with the real vite. */
const BUILD_TS = fileURLToPath(new URL('../../../web/build.ts', import.meta.url));
const run = promisify(execFile);

function project(t: { teardown(fn: () => void): void }, source = 'document.body.append("v1");'): string {
  const dir = mkdtempSync(join(tmpdir(), 'govault-web-build-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><html><body><script type="module" src="/src/main.js"></script></body></html>');
  writeFileSync(join(dir, 'src', 'main.js'), source);
  return dir;
}

const builtScript = (dir: string) => {
  const assets = readdirSync(join(dir, 'dist', 'assets'));
  return readFileSync(join(dir, 'dist', 'assets', assets.find((f) => f.endsWith('.js'))!), 'utf8');
};

test('builds when there is no build, not again while the sources are the same, and again when one changes', async (t) => {
  const dir = project(t);
  const lines: string[] = [];
  const first = await ensureWebAppBuilt((l) => lines.push(l), { webDir: dir });
  t.is(first.action, 'built');
  t.regex(lines.join('\n'), /building .*\(no build yet\)[\s\S]*built in \d+\.\d s/);
  t.regex(builtScript(dir), /v1/);

  t.is((await ensureWebAppBuilt(() => undefined, { webDir: dir })).action, 'fresh');
  // A newer mtime with the same bytes (a checkout, a stash and pop) is no reason to build.
  const later = new Date(Date.now() + 60_000);
  utimesSync(join(dir, 'src', 'main.js'), later, later);
  t.is((await ensureWebAppBuilt(() => undefined, { webDir: dir })).action, 'fresh');

  writeFileSync(join(dir, 'src', 'main.js'), 'document.body.append("v2");');
  const lines2: string[] = [];
  t.is((await ensureWebAppBuilt((l) => lines2.push(l), { webDir: dir })).action, 'built');
  t.regex(lines2.join('\n'), /its sources changed/);
  t.regex(builtScript(dir), /v2/);
  t.deepEqual(readdirSync(dir).sort(), ['dist', 'index.html', 'src'], 'no temporary folder or lock left behind');
});

test('two processes that start at once build once, and both see a whole build', async (t) => {
  const dir = project(t);
  const script = `import(${JSON.stringify(BUILD_TS)}).then(async (m) => console.log(JSON.stringify(await m.ensureWebAppBuilt(() => {}, { webDir: ${JSON.stringify(dir)} }))))`;
  const both = await Promise.all([0, 1].map(() => run(process.execPath, ['--import', 'tsx', '-e', script], { cwd: fileURLToPath(new URL('.', import.meta.url)) })));
  const actions = both.map((r) => (JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { action: string }).action).sort();
  t.deepEqual(actions, ['built', 'fresh']);
  t.regex(builtScript(dir), /v1/);
  t.false(existsSync(join(dir, '.build.lock')));
});

test('a lock left by a builder that died is taken over', async (t) => {
  const dir = project(t);
  writeFileSync(join(dir, '.build.lock'), JSON.stringify({ pid: 2 ** 22 + 12345, at: Date.now() }));
  const outcome = await ensureWebAppBuilt(() => undefined, { webDir: dir });
  t.is(outcome.action, 'built');
  t.false(existsSync(join(dir, '.build.lock')));
});

test('a failing build says why and leaves the previous build served as it was', async (t) => {
  const dir = project(t);
  await ensureWebAppBuilt(() => undefined, { webDir: dir });
  const before = builtScript(dir);
  writeFileSync(join(dir, 'src', 'main.js'), 'document.body.append("v2";');
  const error = await t.throwsAsync(ensureWebAppBuilt(() => undefined, { webDir: dir }));
  t.regex(error!.message, /vite build failed[\s\S]*main\.js/);
  t.is(builtScript(dir), before);
  t.deepEqual(readdirSync(dir).sort(), ['dist', 'index.html', 'src']);
});
