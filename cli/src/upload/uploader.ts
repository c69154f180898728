import { CliError, ExitCode } from '../errors.ts';
import { isRetryableStatus, retryDelayMs, sleep, type RetryPolicy } from '../api/retry.ts';
import type { GovaultApi } from '../api/govault-api.ts';
import type { Reporter, SummaryEvent } from '../output/events.ts';
import { directTransfer } from './direct-transfer.ts';
import { fingerprintOf, sameFingerprint, sha256Of } from './local-file.ts';
import type { ResumeEntry, ResumeStore } from './resume-store.ts';
import { UploadGone, type Transfer, type TransferContext, type UploadItem } from './transfer.ts';
import { tusStatus, tusTransfer } from './tus-transfer.ts';

/** tus-js-client's messages carry the whole request; a person needs the gist. */
function describe(err: unknown): string {
  const { status } = tusStatus(err);
  const cause = (err as { causingError?: { code?: string; message?: string } }).causingError;
  if (status !== undefined) {
    const body = (err as { originalResponse?: { getBody(): string } }).originalResponse?.getBody() ?? '';
    // The JSON error's message, or a short plain-text answer (the tus routes answer some refusals in text).
    const said = /"message":"([^"]*)"/.exec(body)?.[1] ?? (/^[^{<\p{Cc}]{1,200}$/u.test(body.trim()) ? body.trim() : undefined);
    return `the server answered ${status}${said ? `: ${said}` : ''}`;
  }
  if (cause) return `the server could not be reached (${cause.code ?? cause.message})`;
  return (err as Error).message;
}

export interface UploadSettings {
  parallel: number;
  chunkSize: number;
  direct: boolean;
  checksum: boolean;
  visibility: 'private' | 'public';
  retry: RetryPolicy;
  /** Upload files again even when this machine uploaded them unchanged before. */
  again: boolean;
}

/** tus answers worth another attempt besides the "not now" ones: an offset or checksum that did not match. */
const TUS_AGAIN = new Set([409, 460]);

/**
 * Uploads files, `parallel` at a time, each resumed from where an earlier run left it when
 * the file is unchanged, and tried again on network errors and "not now" answers. An
 * attempt that moved bytes forward resets the count, so a flaky link never runs out of
 * retries while it makes progress, and a dead server ends the run within bounded time.
 */
export class Uploader {
  constructor(
    private readonly api: GovaultApi,
    private readonly store: ResumeStore,
    private readonly reporter: Reporter,
    private readonly settings: UploadSettings,
  ) {}

  /** `given`: the paths the run was asked for, which the summary names. */
  async run(items: UploadItem[], given: string[]): Promise<SummaryEvent> {
    const started = Date.now();
    const summary: SummaryEvent = { event: 'summary', path: given.join(' '), files: items.length, done: 0, failed: 0, resumed: 0, skipped: 0, bytes: 0, seconds: 0, mibPerSecond: 0 };
    const queue = [...items];
    const worker = async () => {
      for (let item = queue.shift(); item; item = queue.shift()) {
        try {
          const done = await this.one(item);
          summary.done++;
          summary.bytes += done.sent;
          if (done.resumed) summary.resumed++;
          if (done.skipped) summary.skipped++;
        } catch (err) {
          if (err instanceof CliError && err.exitCode === ExitCode.notSignedIn) throw err;
          summary.failed++;
          this.reporter.emit({ event: 'error', path: item.shownPath, message: (err as Error).message });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.settings.parallel, Math.max(items.length, 1)) }, worker));
    summary.seconds = (Date.now() - started) / 1000;
    summary.mibPerSecond = summary.bytes / 1024 / 1024 / Math.max(summary.seconds, 0.001);
    this.reporter.emit(summary);
    return summary;
  }

  private async one(item: UploadItem): Promise<{ sent: number; resumed: boolean; skipped?: boolean }> {
    const began = Date.now();
    const entry = await this.entryFor(item);
    const size = entry.fingerprint.size;
    const path = item.shownPath;
    if (entry.fileId) {
      this.reporter.emit({ event: 'done', path, name: item.name, fileId: entry.fileId, bytes: size, sent: 0, resumed: false, seconds: 0, skipped: true });
      return { sent: 0, resumed: false, skipped: true };
    }
    /** What the server held when this run first asked: more than 0 means an earlier run's upload goes on. */
    let firstOffset: number | undefined;
    let progress = 0;
    const context: TransferContext = {
      session: this.api.session,
      item,
      entry,
      store: this.store,
      chunkSize: this.settings.chunkSize,
      checksum: this.settings.checksum,
      visibility: this.settings.visibility,
      onStart: (offset) => {
        progress = Math.max(progress, offset);
        if (firstOffset !== undefined) return;
        firstOffset = offset;
        this.reporter.emit({ event: 'start', path, name: item.name, size, mode: entry.mode, resumed: offset > 0, offset });
      },
      onProgress: (bytes) => {
        progress = Math.max(progress, bytes);
        if (firstOffset !== undefined) this.reporter.emit({ event: 'progress', path, bytes, size });
      },
    };
    const transfer: Transfer = entry.mode === 'direct' ? directTransfer : tusTransfer;
    let progressBefore = -1;
    let renewed = false;
    for (let attempt = 0; ; attempt++) {
      try {
        const { fileId } = await transfer(context);
        await this.store.save({ ...entry, tusUrl: undefined, multipart: undefined, fileId });
        if (this.settings.visibility === 'public') await this.api.updateFile(fileId, { visibility: 'public' });
        const resumed = (firstOffset ?? 0) > 0;
        const sent = size - (firstOffset ?? 0);
        this.reporter.emit({ event: 'done', path, name: item.name, fileId, bytes: size, sent, resumed, seconds: (Date.now() - began) / 1000 });
        return { sent, resumed };
      } catch (caught) {
        // tus-js-client wraps what our own hooks threw (a refused renewal, a file that changed).
        const cause = (caught as { causingError?: unknown }).causingError;
        const err = cause instanceof CliError ? cause : caught;
        if (tusStatus(err).status === 401 && !renewed) {
          // The access token was refused mid-upload (revoked, or the server's keys rotated).
          renewed = true;
          await this.api.session.renewNow();
          continue;
        }
        if (err instanceof UploadGone) {
          entry.tusUrl = undefined;
          entry.multipart = undefined;
          await this.store.save(entry);
        } else if (!this.worthAnotherAttempt(err)) {
          throw err instanceof CliError ? err : new CliError(describe(err), ExitCode.failed, { cause: err });
        }
        if (progress > progressBefore) {
          progressBefore = progress;
          attempt = 0;
        }
        if (attempt >= this.settings.retry.retries) throw new CliError(`gave up after ${attempt + 1} attempts: ${describe(err)}`);
        await sleep(err instanceof UploadGone ? 0 : retryDelayMs(this.settings.retry, attempt, tusStatus(err).retryAfter));
      }
    }
  }

  private worthAnotherAttempt(err: unknown): boolean {
    if (err instanceof CliError) return false;
    const { status } = tusStatus(err);
    return status === undefined || isRetryableStatus(status) || TUS_AGAIN.has(status);
  }

  /**
   * The saved upload when the file is the one it began with (or the file it became, while
   * that exists); otherwise a new entry, after terminating a stale upload so that it does
   * not hold the server's storage until it expires.
   */
  private async entryFor(item: UploadItem): Promise<ResumeEntry> {
    const server = this.api.session.server;
    const fingerprint = await fingerprintOf(item.path);
    const mode = this.settings.direct && fingerprint.size > 0 ? 'direct' : 'tus';
    const saved = await this.store.get(server, item.path);
    if (saved && sameFingerprint(saved.fingerprint, fingerprint)) {
      if (!saved.fileId) return saved; // an unfinished upload goes on in the protocol it began with
      if (!this.settings.again && (await this.api.liveFile(saved.fileId))) return saved;
    } else if (saved && !saved.fileId) await this.terminate(saved);
    const entry: ResumeEntry = { server, path: item.path, fingerprint, sha256: await sha256Of(item.path), mode, startedAt: new Date().toISOString() };
    await this.store.save(entry);
    return entry;
  }

  private async terminate(stale: ResumeEntry): Promise<void> {
    const session = this.api.session;
    const authorization = await session.authorization();
    if (stale.tusUrl) {
      const answer = await session.http.send('DELETE', stale.tusUrl, { headers: { authorization, 'tus-resumable': '1.0.0' } }).catch(() => undefined);
      await answer?.body?.cancel();
    }
    if (stale.multipart) {
      const { uploadId, key } = stale.multipart;
      await session.json('DELETE', `/api/uploads/s3/multipart/${uploadId}?key=${encodeURIComponent(key)}`, { accept: [404, 409, 410] }).catch(() => undefined);
    }
    await this.store.forget(stale.server, stale.path);
  }
}
