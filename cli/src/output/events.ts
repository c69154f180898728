/** What `upload` and `download` report, one object per event (the `--json` lines). */
export type TransferEvent =
  | { event: 'start'; path: string; name: string; size: number; mode: 'tus' | 'direct' | 'download'; resumed: boolean; offset: number }
  | { event: 'progress'; path: string; bytes: number; size: number }
  | { event: 'done'; path: string; name: string; fileId: string; bytes: number; sent: number; resumed: boolean; seconds: number; skipped?: boolean }
  | { event: 'error'; path: string; message: string }
  /** `path`: what the run was given (the PATH arguments, space-separated), as every event names a path. */
  | { event: 'summary'; path: string; files: number; done: number; failed: number; resumed: number; skipped: number; bytes: number; seconds: number; mibPerSecond: number };

export interface Reporter {
  emit(event: TransferEvent): void;
  /** Ends live output (progress bars) before the process prints anything else. */
  close(): void;
}

export type SummaryEvent = Extract<TransferEvent, { event: 'summary' }>;

const MiB = 1024 * 1024;

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < MiB) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 * MiB) return `${(bytes / MiB).toFixed(1)} MiB`;
  return `${(bytes / 1024 / MiB).toFixed(2)} GiB`;
}

export function summaryLine(s: SummaryEvent): string {
  return `${s.done} of ${s.files} file${s.files === 1 ? '' : 's'} done, ${formatBytes(s.bytes)} sent in ${s.seconds.toFixed(1)} s (${s.mibPerSecond.toFixed(1)} MiB/s); ${s.resumed} resumed, ${s.skipped} already there, ${s.failed} failed`;
}
