import { randomUUID } from 'node:crypto';
import { createReadStream, type ReadStream } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { HeldPart } from './held-part.ts';
// SIMD CRC32 (about 12 GiB/s here): node:zlib's runs near 1.7 GiB/s, half a second of CPU per GiB received.
import { crc32 } from '@node-rs/crc32';

const MiB = 1024 * 1024;
/** Body chunks arrive in 64 KiB or less; they reach the disk in one writev per MiB. */
const WRITE_BYTES = MiB;

/**
 * One S3 part on its way from a request body to S3, on disk: where parts go once the
 * memory budget for them (PartBufferPool) is spent, so that slow clients hold files
 * rather than memory. The stock @tus/s3-store writes each network chunk with its
 * own call through the thread pool and reads the part back in 64 KiB pieces; batching
 * both was part of what brought the upload service from about 5 s to about 2 s of CPU per
 * GiB received (see the tus-throughput benchmark).
 */
export class PartFile implements HeldPart {
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
