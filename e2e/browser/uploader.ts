import { readFile } from 'node:fs/promises';
import type { CDPSession, Page, Request } from 'playwright-core';
import { button, choose, type UploadMode } from './app.ts';
import type { LocalFile } from './fixtures.ts';
import { ACTION_TIMEOUT_MS, eventually } from './harness.ts';

/**
 * The uploader as a person uses it: the "Upload" button opens Uppy's Dashboard, files
 * are picked with its file input, the "Upload mode" choice switches tus and direct.
 */

// The Dashboard on screen: an app may keep one per mode and hide the other.
const DASHBOARD = '.uppy-Dashboard:visible';
const FILE_INPUT = `${DASHBOARD} input.uppy-Dashboard-input:not([webkitdirectory])`;
const UPPY_START = `${DASHBOARD} .uppy-StatusBar-actionBtn--upload`;
const UPPY_PROGRESS = `${DASHBOARD} .uppy-StatusBar-progress`;

export async function openUploader(page: Page): Promise<void> {
  const upload = button(page, 'Upload');
  // A disclosure button that is already expanded would close on a click.
  if ((await upload.getAttribute('aria-expanded')) !== 'true' && (await page.locator(DASHBOARD).count()) === 0) await upload.click();
  await page.locator(DASHBOARD).first().waitFor({ timeout: ACTION_TIMEOUT_MS });
}

/** Opens the uploader, sets the mode, picks the files and starts them (Uppy may start by itself). */
export async function upload(page: Page, files: LocalFile[], mode: UploadMode = 'Resumable (tus)'): Promise<void> {
  await openUploader(page);
  await choose(page, 'Upload mode', mode);
  await page.locator(DASHBOARD).first().waitFor({ timeout: ACTION_TIMEOUT_MS });
  await pickFiles(page, files);
}

/** Adds files to the Dashboard as its file chooser would, and starts the upload when Uppy waits for the click. */
export async function pickFiles(page: Page, files: LocalFile[]): Promise<void> {
  // A Dashboard that lists files shows its file input behind "Add more files".
  const addMore = page.locator(`${DASHBOARD} .uppy-DashboardContent-addMore`);
  if ((await page.locator(FILE_INPUT).count()) === 0 && (await addMore.count()) > 0) await addMore.click();
  await page.locator(FILE_INPUT).first().setInputFiles(files.map((file) => file.path));
  await startIfWaiting(page);
}

/** Uppy without autoProceed shows "Upload N files" until clicked; with it, the button may flash for a frame. */
export async function startIfWaiting(page: Page): Promise<void> {
  const start = page.locator(UPPY_START);
  const started = page.locator(`${DASHBOARD} .uppy-StatusBar:is(.is-preprocessing, .is-uploading, .is-postprocessing, .is-complete)`);
  await eventually(async () => {
    if ((await started.count()) > 0) return true;
    if (await start.isVisible()) await start.click({ timeout: 1000 }).catch(() => undefined);
    return (await started.count()) > 0;
  }, 'the upload to start');
}

/** Waits until Uppy's total progress reaches `percent`. */
export async function waitForProgress(page: Page, percent: number, timeoutMs = 60_000): Promise<void> {
  await eventually(async () => Number(await page.locator(UPPY_PROGRESS).first().getAttribute('aria-valuenow')) >= percent, `Uppy's progress to reach ${percent} %`, timeoutMs);
}

/**
 * Throttles what the page sends (CDP network emulation): a small upload takes long
 * enough to be interrupted mid-way. `stop` lifts it.
 */
export async function throttleUploads(page: Page, bytesPerSecond: number): Promise<{ stop(): Promise<void>; cut(): Promise<void> }> {
  const cdp: CDPSession = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  const emulate = (uploadThroughput: number) =>
    cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput });
  await emulate(bytesPerSecond);
  return {
    async stop() {
      await emulate(-1).catch(() => undefined);
      await cdp.detach().catch(() => undefined);
    },
    /** The network goes away: requests in flight fail now (closing a tab alone may let Chromium finish them unthrottled). */
    async cut() {
      await cdp.send('Network.emulateNetworkConditions', { offline: true, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    },
  };
}

export interface UploadRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  status?: number;
  responseHeaders?: Record<string, string>;
  body?: string;
}

/** Every upload request of a page (tus, multipart calls, part PUTs), with its answer once it came. */
export class UploadTraffic {
  readonly requests: UploadRequest[] = [];
  private readonly byRequest = new Map<Request, UploadRequest>();

  constructor(page: Page) {
    page.on('request', (request) => {
      if (!isUploadRequest(request.url())) return;
      const seen: UploadRequest = { method: request.method(), url: request.url(), headers: request.headers() };
      this.byRequest.set(request, seen);
      this.requests.push(seen);
    });
    page.on('response', (response) => {
      const seen = this.byRequest.get(response.request());
      if (!seen) return;
      seen.status = response.status();
      seen.responseHeaders = response.headers();
      // What the server says it holds of a multipart upload: the parts Uppy will skip.
      if (isListParts(seen)) void response.text().then((text) => (seen.body = text), () => undefined);
    });
  }

  /** A position in the log; `since` returns what came after it. */
  mark(): number {
    return this.requests.length;
  }

  since(mark: number): UploadRequest[] {
    return this.requests.slice(mark);
  }
}

function isUploadRequest(url: string): boolean {
  const { pathname, searchParams } = new URL(url);
  return pathname.startsWith('/api/uploads') || searchParams.has('partNumber');
}

export const isTusCreation = (r: UploadRequest) => r.method === 'POST' && new URL(r.url).pathname === '/api/uploads/tus';
export const isTusHead = (r: UploadRequest) => r.method === 'HEAD' && new URL(r.url).pathname.startsWith('/api/uploads/tus/');
export const isTusPatch = (r: UploadRequest) => r.method === 'PATCH' && new URL(r.url).pathname.startsWith('/api/uploads/tus/');
export const isMultipartCreation = (r: UploadRequest) => r.method === 'POST' && new URL(r.url).pathname === '/api/uploads/s3/multipart';
export const isListParts = (r: UploadRequest) => r.method === 'GET' && /^\/api\/uploads\/s3\/multipart\/[^/]+$/.test(new URL(r.url).pathname);

/** The part number of a part PUT: embedded mode's signed URLs carry it in the path, S3's presigned URLs in the query. */
export function partNumberOf(r: UploadRequest): number | undefined {
  if (r.method !== 'PUT') return undefined;
  const url = new URL(r.url);
  const fromQuery = url.searchParams.get('partNumber');
  if (fromQuery) return Number(fromQuery);
  const match = /^\/api\/uploads\/parts\/[^/]+\/(\d+)$/.exec(url.pathname);
  return match ? Number(match[1]) : undefined;
}

export interface Unfinished {
  id: string;
  mode: 'tus' | 'direct';
  name: string;
  size: number | null;
  offset: number;
}

/** The server's list of a user's unfinished uploads (what Unfinished uploads shows). */
export async function unfinishedUploads(baseUrl: string, auth: Record<string, string>): Promise<Unfinished[]> {
  const response = await fetch(`${baseUrl}/api/uploads?state=incomplete`, { headers: auth });
  if (!response.ok) throw new Error(`GET /api/uploads answered ${response.status}`);
  return ((await response.json()) as { items: Unfinished[] }).items;
}

/** Starts a tus upload through the API and sends only its first `sent` bytes: an unfinished upload. */
export async function startUnfinishedTusUpload(baseUrl: string, auth: Record<string, string>, file: LocalFile, sent: number): Promise<string> {
  const bytes = await readFile(file.path);
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  const created = await fetch(`${baseUrl}/api/uploads/tus`, {
    method: 'POST',
    headers: { ...auth, 'Tus-Resumable': '1.0.0', 'Upload-Length': String(file.size), 'Upload-Metadata': `filename ${b64(file.name)},filetype ${b64('application/octet-stream')}` },
  });
  const location = created.headers.get('location');
  if (created.status !== 201 || !location) throw new Error(`tus creation answered ${created.status}`);
  const patched = await fetch(location, {
    method: 'PATCH',
    headers: { ...auth, 'Tus-Resumable': '1.0.0', 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
    body: bytes.subarray(0, sent),
  });
  if (patched.status !== 204) throw new Error(`tus PATCH answered ${patched.status}`);
  return location;
}

/**
 * After a reload in the middle of an upload the app either continues by itself (Golden
 * Retriever kept the file) or needs the person to pick the file again (a ghost in the
 * Dashboard, or nothing): this does what the screen asks for, and says which it was.
 */
export async function continueAfterReload(page: Page, file: LocalFile, mode: UploadMode, traffic: UploadTraffic, since: number): Promise<'by itself' | 'picked again'> {
  const resuming = () => traffic.since(since).some((r) => isTusHead(r) || isListParts(r));
  const item = page.locator(`.uppy-Dashboard-Item`).filter({ hasText: file.name });
  const settled = async () => resuming() || (await item.count()) > 0;
  await eventually(settled, 'the app to restore the upload', 5_000).catch(() => undefined);
  const ghost = page.locator('.uppy-Dashboard-Item.is-ghost').filter({ hasText: file.name });
  if (resuming() && (await ghost.count()) === 0) return 'by itself';
  await upload(page, [file], mode);
  return 'picked again';
}
