import { Readable } from 'node:stream';
// SIMD CRC32 (about 12 GiB/s here): node:zlib's runs near 1.7 GiB/s, half a second of CPU per GiB received.
import { crc32 } from '@node-rs/crc32';
import { crc32Header } from './part-file.ts';

/**
 * One S3 part between a request body and S3: filled by `append`, then `close`d, then read
 * (once) as the body of its UploadPart, then `remove`d. Either a PartFile on disk or a
 * MemoryPart in one of the pool's buffers.
 */
export interface HeldPart {
  /** Bytes appended so far. */
  readonly size: number;
  /** The CRC32 of the bytes appended, as S3's `x-amz-checksum-crc32` carries it. */
  readonly checksum: string;
  append(chunk: Buffer): Promise<void>;
  close(): Promise<void>;
  read(): Readable;
  /** Lets the part go; safe at any point, and more than once. */
  remove(): Promise<void>;
}

/**
 * A fixed budget of part-sized buffers, allocated on first use and reused for good: parts
 * are held in them while there is one free, and on disk when the budget is spent. The
 * budget is the most this process ever holds in parts, however many uploads arrive.
 */
export class PartBufferPool {
  private readonly free: Buffer[] = [];
  private readonly waiting: Array<(buffer: Buffer | undefined) => void> = [];
  private allocated = 0;
  private readonly capacity: number;

  constructor(
    readonly partSize: number,
    budgetBytes: number,
  ) {
    this.capacity = Math.floor(budgetBytes / partSize);
  }

  /** A free buffer, or nothing when the budget is spent. */
  take(): Buffer | undefined {
    const reused = this.free.pop();
    if (reused) return reused;
    if (this.allocated === this.capacity) return undefined;
    this.allocated++;
    // Never pooled by Node, never zeroed: every byte read from it was appended first.
    return Buffer.allocUnsafeSlow(this.partSize);
  }

  /**
   * A free buffer, waiting up to `waitMs` for one to come back when the budget is spent
   * (first come, first served); nothing after that, or at once with no budget at all. Many
   * uploads at once share the buffers this way instead of spilling to disk, which costs
   * far more CPU; a buffer held by a slow client still sends the others to disk in time.
   */
  takeWithin(waitMs: number): Promise<Buffer | undefined> {
    const now = this.take();
    if (now || this.capacity === 0 || waitMs <= 0) return Promise.resolve(now);
    return new Promise((resolve) => {
      const waiter = (buffer: Buffer | undefined) => {
        clearTimeout(timer);
        resolve(buffer);
      };
      const timer = setTimeout(() => {
        this.waiting.splice(this.waiting.indexOf(waiter), 1);
        resolve(undefined);
      }, waitMs);
      this.waiting.push(waiter);
    });
  }

  give(buffer: Buffer): void {
    const waiter = this.waiting.shift();
    if (waiter) waiter(buffer);
    else this.free.push(buffer);
  }

  /** Bytes of the budget holding parts right now. */
  get bytesInUse(): number {
    return (this.allocated - this.free.length) * this.partSize;
  }
}

/**
 * A part held in a pool buffer. Copying each network chunk in (a memcpy) costs far less
 * than the disk's write, read back and unlink, and leaves the chunks to die young: holding
 * the chunks themselves until the part is sent made the garbage collector cost more than
 * the disk did.
 */
export class MemoryPart implements HeldPart {
  private crc = 0;
  size = 0;
  private buffer: Buffer | undefined;

  constructor(
    buffer: Buffer,
    private readonly pool: PartBufferPool,
  ) {
    this.buffer = buffer;
  }

  async append(chunk: Buffer): Promise<void> {
    const buffer = this.buffer;
    if (!buffer) throw new Error('append to a part already removed');
    if (this.size + chunk.length > buffer.length) throw new RangeError(`a part holds at most ${buffer.length} bytes`);
    this.crc = crc32(chunk, this.crc);
    chunk.copy(buffer, this.size);
    this.size += chunk.length;
  }

  async close(): Promise<void> {}

  get checksum(): string {
    return crc32Header(this.crc);
  }

  /** One chunk: the SDK writes it to the socket in one call, and signs a stream as UNSIGNED-PAYLOAD rather than hashing it. */
  read(): Readable {
    if (!this.buffer) throw new Error('read of a part already removed');
    return Readable.from([this.buffer.subarray(0, this.size)], { objectMode: false });
  }

  /** Back to the pool: only once the part's request is over, since the buffer is reused. */
  async remove(): Promise<void> {
    if (!this.buffer) return;
    this.pool.give(this.buffer);
    this.buffer = undefined;
  }
}
