import cliProgress from 'cli-progress';
import { formatBytes, summaryLine, type Reporter, type TransferEvent } from './events.ts';

/** `--json`: every event a line of JSON on stdout, progress at most twice a second per file. */
export class JsonReporter implements Reporter {
  private readonly lastProgress = new Map<string, number>();

  constructor(private readonly out: NodeJS.WritableStream = process.stdout) {}

  emit(event: TransferEvent): void {
    if (event.event === 'progress' && event.bytes < event.size) {
      const now = Date.now();
      if (now - (this.lastProgress.get(event.path) ?? 0) < 500) return;
      this.lastProgress.set(event.path, now);
    }
    this.out.write(`${JSON.stringify(event)}\n`);
  }

  close(): void {}
}

/** Not a terminal: a plain line per file event and per tenth of a file, never a carriage return. */
export class LineReporter implements Reporter {
  private readonly tenths = new Map<string, number>();
  private readonly downloads = new Set<string>();

  constructor(
    private readonly out: NodeJS.WritableStream = process.stdout,
    private readonly err: NodeJS.WritableStream = process.stderr,
  ) {}

  emit(event: TransferEvent): void {
    switch (event.event) {
      case 'start':
        if (event.mode === 'download') this.downloads.add(event.path);
        this.tenths.set(event.path, Math.floor((event.offset / Math.max(event.size, 1)) * 10));
        return this.line(`${event.resumed ? 'resuming' : 'starting'} ${event.path} (${formatBytes(event.size)}${event.resumed ? `, ${formatBytes(event.offset)} already there` : ''})`);
      case 'progress': {
        const tenth = Math.floor((event.bytes / Math.max(event.size, 1)) * 10);
        if (tenth <= (this.tenths.get(event.path) ?? 0) || tenth >= 10) return;
        this.tenths.set(event.path, tenth);
        return this.line(`${event.path}: ${tenth * 10}% (${formatBytes(event.bytes)} of ${formatBytes(event.size)})`);
      }
      case 'done':
        return this.line(doneLine(event, this.downloads.has(event.path)));
      case 'error':
        return void this.err.write(`error ${event.path}: ${event.message}\n`);
      case 'summary':
        return this.line(summaryLine(event));
    }
  }

  close(): void {}

  private line(text: string): void {
    this.out.write(`${text}\n`);
  }
}

/** A terminal: one bar per active file and a total bar (bytes, speed, time left), like rclone. */
export class BarReporter implements Reporter {
  private readonly bars: cliProgress.MultiBar;
  private readonly files = new Map<string, { bar: cliProgress.SingleBar; bytes: number; from: number; at: number }>();
  private readonly startedAt = Date.now();
  private startBytes = 0;
  private readonly total?: cliProgress.SingleBar;
  private readonly downloads = new Set<string>();
  private totalBytes = 0;
  private doneBytes = 0;

  constructor(
    totalSize: number,
    withTotal: boolean,
    private readonly err: NodeJS.WritableStream = process.stderr,
  ) {
    this.bars = new cliProgress.MultiBar(
      {
        format: ' {bar} {percentage}% {name} {done}/{size} {speed} ETA {eta_formatted}',
        barsize: 24,
        formatValue: (value, _options, type) => (type === 'value' || type === 'total' ? formatBytes(value) : String(value)),
        hideCursor: true,
        clearOnComplete: false,
        stopOnComplete: false,
        etaBuffer: 50,
        fps: 5,
      },
      cliProgress.Presets.shades_classic,
    );
    this.totalBytes = totalSize;
    if (withTotal) this.total = this.bars.create(Math.max(totalSize, 1), 0, this.payload('total', 0, totalSize, 0));
  }

  emit(event: TransferEvent): void {
    switch (event.event) {
      case 'start': {
        if (event.mode === 'download') this.downloads.add(event.path);
        const bar = this.bars.create(Math.max(event.size, 1), event.offset, this.payload(event.name, event.offset, event.size, 0));
        this.files.set(event.path, { bar, bytes: event.offset, from: event.offset, at: Date.now() });
        this.startBytes += event.offset;
        this.doneBytes += event.offset;
        return this.refreshTotal();
      }
      case 'progress':
        return this.move(event.path, event.bytes, event.size);
      case 'done':
      case 'error': {
        const file = this.files.get(event.path);
        if (file) {
          this.doneBytes += event.event === 'done' ? event.bytes - file.bytes : 0;
          this.bars.remove(file.bar);
          this.files.delete(event.path);
        }
        const said = event.event === 'error' ? `error ${event.path}: ${event.message}` : doneLine(event, this.downloads.has(event.path));
        this.bars.log(`${said}\n`);
        return this.refreshTotal();
      }
      case 'summary':
        this.close();
        return void this.err.write(`${summaryLine(event)}\n`);
    }
  }

  close(): void {
    // A redraw first: it prints the lines logged since the last one (the last file's "done").
    this.bars.update();
    this.bars.stop();
  }

  private move(path: string, bytes: number, size: number): void {
    const file = this.files.get(path);
    if (!file) return;
    this.doneBytes += bytes - file.bytes;
    file.bytes = bytes;
    file.bar.update(bytes, this.payload(path.split('/').pop() ?? path, bytes, size, speed(bytes - file.from, file.at)));
    this.refreshTotal();
  }

  private refreshTotal(): void {
    this.total?.update(this.doneBytes, this.payload('total', this.doneBytes, this.totalBytes, speed(this.doneBytes - this.startBytes, this.startedAt)));
  }

  private payload(name: string, done: number, size: number, bytesPerSecond: number) {
    const shown = name.length > 24 ? `${name.slice(0, 23)}…` : name.padEnd(24);
    return { name: shown, done: formatBytes(done), size: formatBytes(size), speed: `${formatBytes(bytesPerSecond)}/s` };
  }
}

/** "done PATH -> ID (SIZE, resumed)" for uploads, "saved PATH (...)" for downloads. */
function doneLine(event: Extract<TransferEvent, { event: 'done' }>, download: boolean): string {
  if (event.skipped) return `already uploaded ${event.path} -> ${event.fileId}`;
  const detail = `${formatBytes(event.bytes)}${event.resumed ? `, resumed: ${formatBytes(event.sent)} sent` : ''}`;
  return download ? `saved ${event.path} (${detail})` : `done ${event.path} -> ${event.fileId} (${detail})`;
}

const speed = (bytes: number, since: number) => bytes / Math.max((Date.now() - since) / 1000, 0.001);
