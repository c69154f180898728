import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { startCluster } from '../../e2e/cluster.ts';
import { postJson, uploadWithTus } from '../../e2e/client.ts';
import { ROOT } from '../../e2e/system.ts';
import { result, type BenchResult, type Scenario } from '../lib/report.ts';

/**
 * The web app as a first visitor gets it: the bytes of index.html and the JS and CSS it
 * loads, gzip'd (what the gateway sends a browser that accepts gzip), and the time from
 * navigating to `/` until the file list is usable (rows visible, a row's Download
 * enabled) on loopback, in headless Chromium, cold (a new browser context: empty cache)
 * and warm (the same context again). Baseline, same run, same gateway, same browser: a
 * navigation to one of the app's own static files, cold and warm, which is the floor of
 * any page load here; and the API work the page cannot avoid (renew the session, list
 * the files) done by a script.
 */
const RUNS = Number(process.env.BENCH_WEB_RUNS ?? 15);
const FILES = 30;
const REFRESH_KEY = 'govault.refreshToken';
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const scenario: Scenario = {
  name: 'web-app',
  description: `the web app: first-visit gzip bytes, and time until the list of ${FILES} files is usable (Chromium, ${RUNS} runs, cold and warm)`,
  async run(log) {
    const results: BenchResult[] = [];
    // Every page load renews the session once: lift the credential budget off the measurement.
    const cluster = await startCluster('embedded', { serviceEnv: { gateway: { RATE_LIMIT_AUTH_MAX: '100000', RATE_LIMIT_MAX: '100000' } } });
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_FLAGS });
    try {
      const base = cluster.baseUrl;
      const size = await firstVisitBytes(base);
      const dist = distBytes();
      results.push(
        result('web-app', 'first visit, gzip', size.gzip / 1024, 'KiB', undefined, `index.html + ${size.files - 1} JS/CSS files; ${(size.raw / 1024).toFixed(0)} KiB uncompressed, ${(size.br / 1024).toFixed(1)} KiB brotli (what Chromium gets)`),
        result('web-app', 'all of dist, gzip', dist.gzip / 1024, 'KiB', undefined, `${dist.files} files, ${(dist.raw / 1024).toFixed(0)} KiB uncompressed; source maps excluded (${(dist.maps / 1024).toFixed(0)} KiB, fetched only by devtools)`),
      );
      log(`first visit: ${size.gzip} bytes gzip over ${size.files} files; dist ${dist.gzip} bytes gzip`);

      // A password of our own (registerAndLogin keeps its own): each run logs in again for a fresh refresh token.
      const password = 'bench password 1';
      const own = await registerWithPassword(base, `bench-${Date.now()}@example.test`, password);
      for (let i = 0; i < FILES; i++) await uploadWithTus(base, own.user, `bench-file-${String(i).padStart(2, '0')}.txt`, Buffer.from(`file ${i}\n`.repeat(100)));
      const newestName = `bench-file-${String(FILES - 1).padStart(2, '0')}.txt`;
      const login = () => loginTokens(base, own.email, password);

      const staticUrl = `${base}${size.firstAsset}`;
      const appCold: number[] = [];
      const appWarm: number[] = [];
      const bareCold: number[] = [];
      const bareWarm: number[] = [];
      const script: number[] = [];
      for (let run = 0; run < RUNS + 1; run++) {
        const warmUp = run === 0; // the first of each kind pays for Chromium's own start-up: not counted
        const keep = (list: number[], ms: number) => warmUp || list.push(ms);

        const app = await signedInContext(browser, await login());
        keep(appCold, await timeUntilUsable(app, base, newestName));
        keep(appWarm, await timeUntilUsable(app, base, newestName));
        await app.close();

        const bare = await browser.newContext();
        keep(bareCold, await timeToLoad(bare, staticUrl));
        keep(bareWarm, await timeToLoad(bare, staticUrl));
        await bare.close();

        const tokens = await login();
        const t0 = performance.now();
        const renewed = await postJson(`${base}/api/auth/refresh`, { refreshToken: tokens.refreshToken });
        const accessToken = (renewed.body as { accessToken: string }).accessToken;
        const list = await fetch(`${base}/api/files?view=owned&limit=50`, { headers: { Authorization: `Bearer ${accessToken}` } });
        await list.json();
        keep(script, performance.now() - t0);
      }
      const cold = stats(appCold);
      const warm = stats(appWarm);
      const bc = stats(bareCold);
      const bw = stats(bareWarm);
      log(`cold p50 ${cold.p50.toFixed(0)} ms, warm p50 ${warm.p50.toFixed(0)} ms; bare page cold ${bc.p50.toFixed(0)} ms, warm ${bw.p50.toFixed(0)} ms`);
      results.push(
        result('web-app', 'file list usable, cold, p50', cold.p50, 'ms', { name: 'bare static page, cold', value: bc.p50 }, `${RUNS} runs, a new browser context each`),
        result('web-app', 'file list usable, cold, p95', cold.p95, 'ms', { name: 'bare static page, cold', value: bc.p95 }),
        result('web-app', 'file list usable, warm, p50', warm.p50, 'ms', { name: 'bare static page, warm', value: bw.p50 }, 'same context again: assets from the HTTP cache, index.html revalidated'),
        result('web-app', 'file list usable, warm, p95', warm.p95, 'ms', { name: 'bare static page, warm', value: bw.p95 }),
        result('web-app', 'file list usable, cold, p50 vs the API calls alone', cold.p50, 'ms', { name: 'refresh + list by a script', value: stats(script).p50 }),
      );
    } finally {
      await browser.close();
      await cluster.stop();
    }
    return results;
  },
};

export default scenario;

async function registerWithPassword(base: string, email: string, password: string) {
  const registered = await postJson(`${base}/api/auth/register`, { email, password, displayName: 'Bench' });
  if (registered.status !== 201) throw new Error(`register answered ${registered.status}`);
  const tokens = await loginTokens(base, email, password);
  const id = (registered.body as { id: string }).id;
  return { email, user: { id, email, accessToken: tokens.accessToken, auth: { Authorization: `Bearer ${tokens.accessToken}` } } };
}

async function loginTokens(base: string, email: string, password: string): Promise<{ accessToken: string; refreshToken: string }> {
  const login = await postJson(`${base}/api/auth/login`, { email, password });
  if (login.status !== 200) throw new Error(`login answered ${login.status}`);
  return login.body as { accessToken: string; refreshToken: string };
}

/** A fresh context (empty cache) whose pages start signed in: the app's Session reads the refresh token from localStorage. */
async function signedInContext(browser: Browser, tokens: { refreshToken: string }): Promise<BrowserContext> {
  const context = await browser.newContext();
  // Only before the first load: later loads must keep the token the app rotated (a reused one is revoked).
  const [key, token] = [JSON.stringify(REFRESH_KEY), JSON.stringify(tokens.refreshToken)];
  await context.addInitScript({ content: `if (localStorage.getItem(${key}) === null) localStorage.setItem(${key}, ${token});` });
  return context;
}

/** From navigation start until a row shows the file and its Download button is enabled. */
async function timeUntilUsable(context: BrowserContext, base: string, fileName: string): Promise<number> {
  const page = await context.newPage();
  try {
    const t0 = performance.now();
    await page.goto(`${base}/`, { waitUntil: 'commit' });
    const row = page.getByRole('row').filter({ hasText: fileName });
    const download = row.getByRole('button', { name: 'Download', exact: true });
    await download.waitFor({ state: 'visible', timeout: 30_000 }).catch((err: Error) => {
      throw new Error(`no row "${fileName}" with a Download button within 30 s (the screens of ARCHITECTURE.md "Web app" must be built): ${err.message.split('\n')[0]}`);
    });
    while (!(await download.isEnabled())) await page.waitForTimeout(5);
    return performance.now() - t0;
  } finally {
    await page.close();
  }
}

async function timeToLoad(context: BrowserContext, url: string): Promise<number> {
  const page = await context.newPage();
  try {
    const t0 = performance.now();
    await page.goto(url, { waitUntil: 'load' });
    return performance.now() - t0;
  } finally {
    await page.close();
  }
}

/** What a first visit downloads: index.html and the scripts, styles and preloads it names, as the gateway sends them. */
async function firstVisitBytes(base: string) {
  const html = await (await fetch(`${base}/`)).text();
  const referenced = [...html.matchAll(/<(?:script|link)\b[^>]*?(?:src|href)="(\/assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]!);
  let [gzip, br, raw] = [0, 0, 0];
  for (const path of ['/', ...referenced]) {
    gzip += await encodedLength(`${base}${path}`, 'gzip');
    br += await encodedLength(`${base}${path}`, 'br');
    raw += await encodedLength(`${base}${path}`, 'identity');
  }
  return { gzip, br, raw, files: referenced.length + 1, firstAsset: referenced.find((p) => p.endsWith('.css')) ?? referenced[0] ?? '/' };
}

/** Bytes on the wire for one encoding: node's fetch would decompress, so this asks with http. */
async function encodedLength(url: string, encoding: string): Promise<number> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    request(url, { headers: { 'accept-encoding': encoding } }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.on('end', () => resolve(bytes));
    })
      .on('error', reject)
      .end();
  });
}

function distBytes() {
  const dir = join(ROOT, 'web', 'dist');
  let [raw, gzip, maps, files] = [0, 0, 0, 0];
  const walk = (folder: string) => {
    for (const name of readdirSync(folder)) {
      if (name.startsWith('.')) continue;
      const path = join(folder, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.map')) maps += statSync(path).size;
      else {
        const body = readFileSync(path);
        files++;
        raw += body.length;
        gzip += Math.min(body.length, gzipSync(body, { level: 9 }).length);
      }
    }
  };
  walk(dir);
  return { raw, gzip, maps, files };
}

function stats(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { p50: at(0.5), p95: at(0.95) };
}
