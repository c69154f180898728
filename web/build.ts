import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Builds web/dist when it is missing or was built from other sources, so that a fresh
 * clone's `npm start` (and every test cluster) serves the current app with no extra step.
 *
 * "Other sources" is decided by content, not by mtime: a fingerprint (SHA-256 of the
 * paths and bytes of web/src, index.html, vite.config.ts, tsconfig.json, package.json and
 * the lockfile) is written into dist as `.build-stamp.json` (the gateway never serves
 * dot-files), and a build is needed when it differs. The build goes to a temporary folder
 * beside dist and is swapped in by rename, under a lock file, so a gateway never reads a
 * half-written build and two processes starting at once build once.
 */
const WEB_DIR = dirname(fileURLToPath(import.meta.url));
const STAMP = '.build-stamp.json';
/** A lock older than this belongs to a build that died without removing it. */
const STALE_LOCK_MS = 5 * 60_000;
const SOURCES = ['src', 'public', 'index.html', 'vite.config.ts', 'tsconfig.json', 'package.json', '../package-lock.json'];

export interface BuildOutcome {
  /** `fresh`: dist matched its sources; `built`: this call built it; `no-sources`: nothing to build from. */
  action: 'fresh' | 'built' | 'no-sources';
  dir: string;
  ms: number;
}

export interface BuildOptions {
  /** Build even when dist is current. */
  force?: boolean;
  /** The Vite project (tests use a small one of their own); default: this folder. */
  webDir?: string;
}

/** Builds dist if needed; `log` gets one line for what was done and how long it took. */
export async function ensureWebAppBuilt(log: (line: string) => void, options: BuildOptions = {}): Promise<BuildOutcome> {
  const web = new WebProject(options.webDir ?? WEB_DIR);
  const { dist } = web;
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  if (!existsSync(join(web.dir, 'src'))) {
    log(`web app: no sources in ${web.dir}/src, serving ${dist} as it is`);
    return { action: 'no-sources', dir: dist, ms: elapsed() };
  }
  const fingerprint = await web.sourcesFingerprint();
  if (!options.force && (await web.builtFingerprint()) === fingerprint) {
    log(`web app: ${relative(process.cwd(), dist) || dist} is up to date (checked in ${elapsed()} ms)`);
    return { action: 'fresh', dir: dist, ms: elapsed() };
  }
  return web.withLock(async () => {
    // Another process may have built it while this one waited for the lock.
    if (!options.force && (await web.builtFingerprint()) === fingerprint) {
      log(`web app: built by another process meanwhile (${elapsed()} ms)`);
      return { action: 'fresh', dir: dist, ms: elapsed() };
    }
    const why = existsSync(join(dist, 'index.html')) ? 'its sources changed' : 'no build yet';
    log(`web app: building ${dist} (${options.force ? 'asked to' : why})`);
    await web.buildInto(fingerprint);
    log(`web app: built in ${(elapsed() / 1000).toFixed(1)} s`);
    return { action: 'built', dir: dist, ms: elapsed() };
  });
}

/** The paths of one Vite project: its sources, its dist, the lock its builders share. */
class WebProject {
  readonly dist: string;
  private readonly lock: string;

  constructor(readonly dir: string) {
    this.dist = join(dir, 'dist');
    this.lock = join(dir, '.build.lock');
  }

  async sourcesFingerprint(): Promise<string> {
    const hash = createHash('sha256');
    for (const source of SOURCES) {
      for (const file of await this.filesUnder(join(this.dir, source))) {
        hash.update(`${relative(this.dir, file)}\0`);
        hash.update(await readFile(file));
        hash.update('\0');
      }
    }
    return hash.digest('hex');
  }

  private async filesUnder(path: string): Promise<string[]> {
    const info = await stat(path).catch(() => undefined);
    if (!info) return [];
    if (!info.isDirectory()) return [path];
    const entries = await readdir(path, { withFileTypes: true });
    const nested = await Promise.all(
      entries
        .filter((e) => !e.name.startsWith('.'))
        .sort((a, b) => (a.name < b.name ? -1 : 1))
        .map((e) => this.filesUnder(join(path, e.name))),
    );
    return nested.flat();
  }

  async builtFingerprint(): Promise<string | undefined> {
    if (!existsSync(join(this.dist, 'index.html'))) return undefined;
    const stamp = await readFile(join(this.dist, STAMP), 'utf8').catch(() => undefined);
    return stamp ? (JSON.parse(stamp) as { sources?: string }).sources : undefined;
  }

  /** vite build into a fresh folder beside dist, then two renames: dist is never half-written. */
  async buildInto(fingerprint: string): Promise<void> {
    const suffix = `${process.pid}-${Date.now()}`;
    const temp = join(this.dir, `.dist-new-${suffix}`);
    const old = join(this.dir, `.dist-old-${suffix}`);
    try {
      await this.runVite(['build', '--outDir', temp, '--emptyOutDir', '--logLevel', 'warn']);
      await writeFile(join(temp, STAMP), `${JSON.stringify({ sources: fingerprint, builtAt: new Date().toISOString() })}\n`);
      const hadDist = existsSync(this.dist);
      if (hadDist) await rename(this.dist, old);
      await rename(temp, this.dist);
      if (hadDist) await rm(old, { recursive: true, force: true });
    } finally {
      await rm(temp, { recursive: true, force: true });
    }
  }

  private runVite(args: string[]): Promise<void> {
    const viteBin = join(dirname(createRequire(import.meta.url).resolve('vite/package.json')), 'bin', 'vite.js');
    return new Promise((resolve, reject) => {
      // A child process: Vite, Rollup and esbuild stay out of the memory of whoever asked.
      const child = spawn(process.execPath, [viteBin, ...args], { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-8_000));
      child.stdout.on('data', keep);
      child.stderr.on('data', keep);
      child.once('error', reject);
      child.once('exit', (code, signal) =>
        code === 0 ? resolve() : reject(new Error(`vite build failed (${signal ?? `exit ${code}`}):\n${output.trim()}`)),
      );
    });
  }

  /** One builder at a time across processes: an exclusive-create lock file, taken over when its owner is gone. */
  async withLock<T>(work: () => Promise<T>): Promise<T> {
    await mkdir(this.dir, { recursive: true });
    for (;;) {
      try {
        const handle = await open(this.lock, 'wx');
        await handle.writeFile(JSON.stringify({ pid: process.pid, at: Date.now() }));
        await handle.close();
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const stale = await this.staleLock();
        // Removed only if it is still the lock judged stale, not one a third process just took.
        if (stale !== undefined && (await readFile(this.lock, 'utf8').catch(() => undefined)) === stale) await rm(this.lock, { force: true });
        else await new Promise((r) => setTimeout(r, 200));
      }
    }
    try {
      return await work();
    } finally {
      await rm(this.lock, { force: true });
    }
  }

  /** The lock file's text when its owner is gone (or it is too old), else undefined. */
  private async staleLock(): Promise<string | undefined> {
    const text = await readFile(this.lock, 'utf8').catch(() => undefined);
    if (text === undefined) return undefined; // removed meanwhile: try again
    const owner = (() => {
      try {
        return JSON.parse(text) as { pid?: number; at?: number };
      } catch {
        return {}; // written but not yet filled, or garbage
      }
    })();
    const age = Date.now() - (owner.at ?? (await stat(this.lock).then((s) => s.mtimeMs, () => Date.now())));
    if (age > STALE_LOCK_MS) return text;
    if (owner.pid === undefined) return undefined;
    try {
      process.kill(owner.pid, 0);
      return undefined;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ESRCH' ? text : undefined;
    }
  }
}

// `node --import tsx web/build.ts` (npm run build -w web): always build.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await ensureWebAppBuilt((line) => process.stdout.write(`${line}\n`), { force: true }).catch((err: Error) => {
    process.stderr.write(`${err.message}\n`);
    process.exitCode = 1;
  });
}
