import type { Context, Next } from 'koa';
import { notFound, type Logger } from '@govault/lib';
import { loadWebApp, stampOf, type WebAppFile, type WebAppSnapshot } from './web-app-files.ts';

/** The app's routes (ARCHITECTURE.md "Web app"): each answers index.html, and the app's router takes over. */
const APP_PAGES = new Set(['/', '/index.html', '/login', '/register', '/shared', '/shortcuts', '/trash', '/uploads']);
const PUBLIC_FILE_PAGE = /^\/p\/[A-Za-z0-9_-]{1,128}$/;

/** Metrics labels: one for every page, one for every asset, so that paths cannot grow /metrics. */
export type WebAppRoute = 'web-app' | 'web-asset';

/** Vite's output names carry a content hash: an asset's bytes never change under its name. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
/** index.html (and anything else not hashed) is revalidated on each visit (a 304 when unchanged). */
const REVALIDATE = 'no-cache';
/** How often the folder is looked at again for a new (or a first) build. */
const RECHECK_MS = 1_000;

export interface WebAppOptions {
  dir: string;
  /** The Content-Security-Policy of the HTML answers. */
  csp: (ctx: Context) => string;
  logger: Logger;
}

/**
 * The built web app at `/`: index.html for the app's routes, the files of the build
 * beside it, GET and HEAD only, from memory (see loadWebApp). A new build in the folder
 * is picked up within a second; while there is none, the pages say what to run.
 */
export class WebApp {
  private snapshot: WebAppSnapshot | undefined;
  private refreshing: Promise<void> | undefined;
  private checkedAt = 0;
  private reportedMissing = false;

  constructor(private readonly options: WebAppOptions) {}

  /** The label of a request the web app answers; undefined for every other request. */
  routeOf(method: string, path: string): WebAppRoute | undefined {
    if (method !== 'GET' && method !== 'HEAD') return undefined;
    if (APP_PAGES.has(path) || PUBLIC_FILE_PAGE.test(path)) return 'web-app';
    if (path.startsWith('/assets/') || this.snapshot?.files.has(path)) return 'web-asset';
    return undefined;
  }

  /** Loads the build now rather than at the first request. */
  load(): Promise<void> {
    this.refreshing ??= this.refresh().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  middleware() {
    return async (ctx: Context, next: Next) => {
      const route = this.routeOf(ctx.method, ctx.path);
      if (!route) return next();
      const snapshot = await this.current();
      if (!snapshot) {
        if (route === 'web-app') return this.notBuilt(ctx);
        throw notFound('file');
      }
      const file = route === 'web-app' ? snapshot.index : snapshot.files.get(ctx.path);
      if (!file) throw notFound('file');
      if (route === 'web-app') ctx.set('Content-Security-Policy', this.options.csp(ctx));
      send(ctx, file, ctx.path.startsWith('/assets/') ? IMMUTABLE : REVALIDATE);
    };
  }

  private async current(): Promise<WebAppSnapshot | undefined> {
    if (Date.now() - this.checkedAt >= RECHECK_MS) void this.load();
    // Only the first load is waited for; later ones swap the snapshot when done.
    if (!this.snapshot && this.refreshing) await this.refreshing;
    return this.snapshot;
  }

  private async refresh(): Promise<void> {
    const { dir, logger } = this.options;
    this.checkedAt = Date.now();
    const stamp = await stampOf(`${dir}/index.html`);
    if (stamp !== undefined && stamp === this.snapshot?.indexStamp) return;
    const started = performance.now();
    try {
      const loaded = stamp === undefined ? undefined : await loadWebApp(dir);
      this.snapshot = loaded;
      if (!loaded) return this.reportMissing();
      this.reportedMissing = false;
      const bytes = [...loaded.files.values()].reduce((sum, f) => sum + f.body.length, 0);
      logger.info({ dir, files: loaded.files.size, bytes, ms: Math.round(performance.now() - started) }, 'web app loaded');
    } catch (err) {
      logger.error({ err, dir }, 'web app could not be loaded; the previous build (if any) is still served');
    }
  }

  private reportMissing(): void {
    if (this.reportedMissing) return;
    this.reportedMissing = true;
    this.options.logger.warn({ dir: this.options.dir }, `web app not built: no index.html in ${this.options.dir}. ${HOW_TO_BUILD}`);
  }

  private notBuilt(ctx: Context): void {
    ctx.status = 503;
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Content-Security-Policy', this.options.csp(ctx));
    ctx.body = NOT_BUILT_PAGE;
  }
}

const HOW_TO_BUILD = 'Run `npm run build -w web` (`npm start` builds it when needed), or point WEB_APP_DIR at a built app.';

const NOT_BUILT_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>GoVault: the web app is not built</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><h1>The web app is not built</h1>
<p>The gateway found no <code>index.html</code> in its web app folder. ${HOW_TO_BUILD.replace(/`([^`]+)`/g, '<code>$1</code>')}
This page changes to the app within a second of the build.</p>
<p>The API is up under <code>/api/</code>.</p>
</body></html>`;

/** One file, in the best form the client accepts, with its validator (a 304 when it already has it). */
function send(ctx: Context, file: WebAppFile, cacheControl: string): void {
  const [encoding, body] = negotiate(ctx, file);
  ctx.status = 200;
  ctx.type = file.type;
  ctx.set('Cache-Control', cacheControl);
  if (file.br || file.gzip) ctx.vary('Accept-Encoding');
  if (encoding !== 'identity') ctx.set('Content-Encoding', encoding);
  ctx.etag = encoding === 'identity' ? `"${file.hash}"` : `"${file.hash}-${encoding}"`;
  if (ctx.fresh) {
    ctx.status = 304;
    return;
  }
  ctx.body = body;
}

/** Brotli (smallest), then gzip, whichever the client accepts at least as much as the plain bytes. */
function negotiate(ctx: Context, file: WebAppFile): ['br' | 'gzip' | 'identity', Buffer] {
  if (file.br && ctx.acceptsEncodings('br', 'identity') === 'br') return ['br', file.br];
  if (file.gzip && ctx.acceptsEncodings('gzip', 'identity') === 'gzip') return ['gzip', file.gzip];
  return ['identity', file.body];
}
