import { randomUUID } from 'node:crypto';
import { createReadStream, type ReadStream } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

const MiB = 1024 * 1024;
/** Body chunks arrive in 64 KiB or less; they reach the disk in one writev per MiB. */
const WRITE_BYTES = MiB;

/** One S3 part on its way from a request body to S3: in memory, or spooled to disk. */
export interface PartBytes {
  /** Bytes appended so far. */
  readonly size: number;
  /** The CRC32 of the bytes appended, as S3's `x-amz-checksum-crc32` carries it. */
  readonly checksum: string;
  append(chunk: Buffer): Promise<void>;
  /** No more bytes; the part can then be read. */
  close(): Promise<void>;
  /** The part's bytes, for the request that sends them (a buffer, or a stream of the file). */
  read(): Buffer | ReadStream;
  /** Lets the bytes go (the file removed, the memory given back to its budget). */
  remove(): Promise<void>;
}

/**
 * A part held in memory: the body's chunks as they came, joined once when it is sent. It
 * costs no file write and no read back (about a third of the upload service's CPU per GiB
 * with spooled parts), and is lost in a crash exactly as a spool file is: a part counts
 * as stored only once S3 has it.
 */
export class MemoryPart implements PartBytes {
  private chunks: Buffer[] = [];
  private joined: Buffer | undefined;
  private crc = 0;
  size = 0;

  constructor(private readonly giveBack: () => void) {}

  async append(chunk: Buffer): Promise<void> {
    this.crc = crc32(chunk, this.crc);
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  async close(): Promise<void> {}

  get checksum(): string {
    return crc32Header(this.crc);
  }

  read(): Buffer {
    this.joined ??= this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
    this.chunks = [];
    return this.joined;
  }

  async remove(): Promise<void> {
    this.chunks = [];
    this.joined = undefined;
    this.giveBack();
  }
}

/**
 * How many bytes of parts the upload service holds in memory at once; past it, parts
 * are spooled to disk, so that many slow clients hold files rather than memory. A part
 * reserves its whole size when it starts, since its bytes arrive as the client sends them.
 */
export class PartMemoryBudget {
  private reserved = 0;

  constructor(readonly limitBytes: number) {}

  /** A part of up to `bytes` in memory, or undefined when the budget is spent. */
  tryPart(bytes: number): MemoryPart | undefined {
    if (this.reserved + bytes > this.limitBytes) return undefined;
    this.reserved += bytes;
    let given = false;
    return new MemoryPart(() => {
      if (given) return;
      given = true;
      this.reserved -= bytes;
    });
  }

  get reservedBytes(): number {
    return this.reserved;
  }
}

/**
 * One S3 part on its way from a request body to S3, on disk so that a slow client holds
 * a file rather than memory. The stock @tus/s3-store writes each network chunk with its
 * own call through the thread pool and reads the part back in 64 KiB pieces; batching
 * both was part of what brought the upload service from about 5 s to about 2 s of CPU per
 * GiB received (see the tus-throughput benchmark).
 */
export class PartFile implements PartBytes {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private closed = false;
  private crc = 0;
  /** Bytes appended so far. */
  size = 0;

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
  ) {}

  static async create(dir: string): Promise<PartFile> {
    const path = join(dir, `part-${randomUUID()}`);
    return new PartFile(path, await open(path, 'w'));
  }

  async append(chunk: Buffer): Promise<void> {
    this.crc = crc32(chunk, this.crc);
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    this.size += chunk.length;
    if (this.pendingBytes >= WRITE_BYTES) await this.flush();
  }

  /** Writes what is pending and closes the file; the part can then be read. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.flush();
    } finally {
      await this.handle.close();
    }
  }

  /** The CRC32 of the bytes appended, as S3's `x-amz-checksum-crc32` carries it (base64 of the big-endian value). */
  get checksum(): string {
    return crc32Header(this.crc);
  }

  read(): ReadStream {
    return createReadStream(this.path, { highWaterMark: MiB });
  }

  async remove(): Promise<void> {
    await this.close().catch(() => undefined);
    await rm(this.path, { force: true });
  }

  private async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const chunks = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    // libuv writes every buffer, across partial writes and the iovec limit.
    await this.handle.writev(chunks);
  }
}

export function crc32Header(crc: number): string {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(crc >>> 0);
  return bytes.toString('base64');
}
