import type { ExecutionContext } from 'ava';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { postJson, type TestUser } from '../client.ts';
import { availableModes, systemPerMode, type Mode, type RunningSystem } from '../system.ts';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
];

/** Bounded waits for a person's actions: generous for a loaded 2-core CI machine, never a sleep. */
export const ACTION_TIMEOUT_MS = 15_000;

// A browser test signs in many users and, with short token lifetimes, renews often: the
// default 60 auth requests per minute per address would refuse the suite, not a person.
const BROWSER_STACK_ENV: NodeJS.ProcessEnv = { RATE_LIMIT_AUTH_MAX: '100000', RATE_LIMIT_MAX: '100000' };

/**
 * One Chromium and one GoVault stack per mode for a whole test file, both started on
 * first use. Register `close` with `test.after.always`.
 */
export function browserSuite(extraEnv: NodeJS.ProcessEnv = {}) {
  const systems = systemPerMode({ ...BROWSER_STACK_ENV, ...extraEnv });
  let browser: Promise<Browser> | undefined;
  return {
    modes: availableModes(),
    async stack(mode: Mode): Promise<Stack> {
      browser ??= chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_FLAGS });
      const [system, launched] = await Promise.all([systems.systemFor(mode), browser]);
      return new Stack(system, launched);
    },
    async close(): Promise<void> {
      await (await browser?.catch(() => undefined))?.close();
      await systems.stopAll();
    },
  };
}

export interface Person extends TestUser {
  password: string;
  displayName: string;
  /** A fresh refresh token (each login makes one), for a browser context to start signed in. */
  refreshToken: string;
}

export class Stack {
  constructor(
    readonly system: RunningSystem,
    readonly browser: Browser,
  ) {}

  get baseUrl(): string {
    return this.system.baseUrl;
  }

  /** A registered user, made through the API (tests that are not about sign-in start here). */
  async person(displayName: string, email?: string): Promise<Person> {
    const password = `pw-${randomUUID()}`;
    email ??= `${displayName.toLowerCase().replace(/\W+/g, '-')}-${randomUUID().slice(0, 8)}@example.test`;
    const registered = await postJson(`${this.baseUrl}/api/auth/register`, { email, password, displayName });
    if (registered.status !== 201) throw new Error(`register answered ${registered.status}: ${JSON.stringify(registered.body)}`);
    const user = await this.login(email, password);
    return { ...user, id: (registered.body as { id: string }).id, password, displayName };
  }

  /** A new token pair for a person: the context that adopts it owns that refresh token alone. */
  async login(email: string, password: string): Promise<TestUser & { refreshToken: string }> {
    const login = await postJson(`${this.baseUrl}/api/auth/login`, { email, password });
    if (login.status !== 200) throw new Error(`login answered ${login.status}: ${JSON.stringify(login.body)}`);
    const { accessToken, refreshToken } = login.body as { accessToken: string; refreshToken: string };
    return { id: '', email, accessToken, refreshToken, auth: { Authorization: `Bearer ${accessToken}` } };
  }

  /** A browser context signed out, as a stranger who got a link. */
  async visitor(t: ExecutionContext, options: VisitorOptions = {}): Promise<Visitor> {
    const context = await this.browser.newContext({ baseURL: this.baseUrl, viewport: options.viewport ?? { width: 1280, height: 800 }, colorScheme: options.colorScheme ?? 'light', acceptDownloads: true });
    return this.watched(t, context);
  }

  /**
   * A browser context already signed in as `person`: its refresh token is in localStorage
   * (`govault.refreshToken`) before the app first loads, as after an earlier visit.
   */
  async signedIn(t: ExecutionContext, person: Person, options: VisitorOptions = {}): Promise<Visitor> {
    const tokens = await this.login(person.email, person.password);
    const context = await this.browser.newContext({
      baseURL: this.baseUrl,
      viewport: options.viewport ?? { width: 1280, height: 800 },
      colorScheme: options.colorScheme ?? 'light',
      acceptDownloads: true,
      storageState: { cookies: [], origins: [{ origin: this.baseUrl, localStorage: [{ name: 'govault.refreshToken', value: tokens.refreshToken }] }] },
    });
    return this.watched(t, context);
  }

  /** A failed test leaves a picture of each of its pages behind, and says where. */
  private async watched(t: ExecutionContext, context: BrowserContext): Promise<Visitor> {
    const visitor = new Visitor(context);
    await visitor.watch();
    t.teardown(async () => {
      if (!t.passed) {
        for (const [i, page] of context.pages().entries()) {
          const path = join(tmpdir(), `govault-browser-failure-${randomUUID().slice(0, 8)}-${i}.png`);
          if (await page.screenshot({ path, fullPage: true }).then(() => true, () => false)) console.error(`  screenshot of ${page.url()} when "${t.title}" failed: ${path}`);
        }
      }
      await context.close().catch(() => undefined);
    });
    return visitor;
  }
}

export interface VisitorOptions {
  viewport?: { width: number; height: number };
  colorScheme?: 'light' | 'dark';
}

/**
 * One browser context (one person's browser) and everything that went wrong in it: console
 * errors, uncaught page errors, failed or refused requests, CSP violations. A test ends
 * with `assertNothingWentWrong`; what a test provokes on purpose (an aborted upload on
 * reload, the 404 of a private link) it allows first, by pattern.
 */
export class Visitor {
  private readonly seen: Problem[] = [];
  private readonly allowed: RegExp[] = [];
  private readonly downloads = new Set<string>();
  private current: Page | undefined;

  constructor(readonly context: BrowserContext) {}

  /** The page of this visitor (one tab, opened on first use). */
  async page(): Promise<Page> {
    this.current ??= await this.context.newPage();
    return this.current;
  }

  /** A new tab, the previous one being closed or kept by the caller. */
  async newPage(): Promise<Page> {
    this.current = await this.context.newPage();
    return this.current;
  }

  /** Tolerates problems matching `pattern` from now on (until `forbid`). */
  allow(pattern: RegExp): void {
    this.allowed.push(pattern);
  }

  forbid(pattern: RegExp): void {
    const at = this.allowed.indexOf(pattern);
    if (at >= 0) this.allowed.splice(at, 1);
  }

  /** What went wrong so far. A navigation that became a download ends "aborted" in Chromium: that one is no problem. */
  get problems(): string[] {
    return this.seen.filter((p) => !(p.abortedUrl && this.downloads.has(p.abortedUrl))).map((p) => p.text);
  }

  assertNothingWentWrong(t: ExecutionContext, who = 'the browser'): void {
    t.deepEqual(this.problems, [], `${who}: console errors, page errors, failed requests or CSP violations`);
  }

  async watch(): Promise<void> {
    // The event reaches no console by itself when the page's code catches nothing; this
    // makes every violation a console error with a recognisable prefix, on every document.
    await this.context.addInitScript(`document.addEventListener('securitypolicyviolation', (event) => {
      console.error('CSP violation: ' + event.violatedDirective + ' blocked ' + (event.blockedURI || 'inline') + ' (' + event.sourceFile + ':' + event.lineNumber + ')');
    });`);
    this.context.on('page', (page) => this.watchPage(page));
  }

  private watchPage(page: Page): void {
    page.on('console', (message) => {
      if (message.type() !== 'error' && !/^Refused to /.test(message.text())) return;
      this.report(`console ${message.type()}: ${message.text()} [${message.location().url}]`);
    });
    page.on('pageerror', (error) => this.report(`page error: ${error.stack ?? error.message}`));
    page.on('download', (download) => this.downloads.add(download.url()));
    page.on('requestfailed', (request) => {
      const errorText = request.failure()?.errorText ?? '';
      // A read that a navigation (goto, reload, a link) cut short is nothing a person sees.
      if (errorText === 'net::ERR_ABORTED' && request.method() === 'GET' && request.resourceType() === 'fetch') return;
      this.report(`request failed: ${request.method()} ${request.url()} ${errorText}`, errorText === 'net::ERR_ABORTED' ? request.url() : undefined);
    });
    page.on('response', (response) => {
      if (response.status() >= 400) this.report(`http ${response.status()}: ${response.request().method()} ${response.url()}`);
    });
  }

  private report(text: string, abortedUrl?: string): void {
    if (!this.allowed.some((pattern) => pattern.test(text))) this.seen.push({ text, abortedUrl });
  }
}

interface Problem {
  text: string;
  /** The URL of a request that ended net::ERR_ABORTED, which a download does too. */
  abortedUrl?: string;
}

/** Polls `condition` until it holds; fails with `what` after `timeoutMs`. A bounded wait, not a timing assertion. */
export async function eventually(condition: () => Promise<boolean>, what: string, timeoutMs = ACTION_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
