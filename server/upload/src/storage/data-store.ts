import { ReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { crc32 } from '@node-rs/crc32';
import { FileStore } from '@tus/file-store';
import type { Part } from '@aws-sdk/client-s3';
import { S3Store, type MetadataValue } from '@tus/s3-store';
import { ERRORS, TUS_RESUMABLE, Upload, type DataStore, type KvStore } from '@tus/server';
import { instrumentS3Client, type Logger, type S3RequestMetrics, type S3Settings } from '@govault/lib';
import type { UploadPartRepository } from '../session/upload-part.repository.ts';
import type { PersistedOffsetSource } from '../tus/node-body.ts';
import { PartFile, crc32Header } from './part-file.ts';
import { MemoryPart, type HeldPart, type PartBufferPool } from './held-part.ts';
import { LockedViews } from './locked-view.ts';

const MiB = 1024 ** 2;
const MAX_PARTS = 10_000;
/** S3's largest part, and so the largest range one UploadPartCopy may copy. */
const MAX_PART_SIZE = 5 * 1024 ** 3;
const CONCURRENT_COPIES = 4;
/**
 * How long a part waits for a pool buffer before it goes to disk. Twenty uploads at once
 * on the default 64 MiB free one every 60 ms or so between them; a client slow enough to
 * hold a buffer longer than this sends the others to disk rather than making them wait.
 */
const PART_MEMORY_WAIT_MS = 1_000;

/** A partial's object as ranges of at most 5 GiB, of equal size so that none is too small to be a part. */
function copyRanges(size: number): Array<{ start: number; end: number; whole: boolean }> {
  const count = Math.ceil(size / MAX_PART_SIZE);
  const each = Math.ceil(size / count);
  return Array.from({ length: count }, (_, i) => ({ start: i * each, end: Math.min(size, (i + 1) * each), whole: count === 1 }));
}

/** At least 8 MiB, and large enough that the maximum upload fits in S3's 10,000 parts. */
export function partSizeFor(maxUploadSize: number): number {
  return Math.max(8 * MiB, Math.ceil(maxUploadSize / MAX_PARTS / MiB) * MiB);
}

type S3StoreOptions = ConstructorParameters<typeof S3Store>[0];

/**
 * Called, under the upload's lock, for an upload the store holds every byte of, just
 * before the store forgets it. True when the object is a file's (or about to be), and is
 * kept; false when no file will hold it (a partial upload of a concatenation), and it goes.
 */
export type KeepFinishedUpload = (upload: Upload) => Promise<boolean>;

const holdsEveryByte = (upload: Upload) => upload.size !== undefined && upload.offset === upload.size;

/** A tus store that can make a final upload of tus concatenation from finished partial uploads. */
export interface ConcatenatingStore extends Pick<DataStore, 'getUpload' | 'remove'> {
  /**
   * Writes the bytes of `partials`, in order, into `finalId`, a new upload as long as they
   * are together, and completes it. The partials stay as they are.
   */
  concatenate(finalId: string, partials: Upload[]): Promise<void>;
}

/** The way that works in every store: the partials read back, in order, as one body of the final upload. */
async function writeJoined(store: DataStore & { read(id: string): Readable | Promise<Readable> }, finalId: string, partials: Upload[]): Promise<void> {
  const total = partials.reduce((sum, p) => sum + p.size!, 0);
  if (total === 0) return;
  const joined = Readable.from(
    (async function* () {
      for (const partial of partials) yield* (await store.read(partial.id)) as AsyncIterable<Buffer>;
    })(),
  );
  const offset = await store.write(joined, finalId, 0);
  if (offset !== total) throw new Error(`concatenation wrote ${offset} of ${total} bytes into ${finalId}`);
}
/** What S3 is told of a part before its bytes: its length, and the CRC32 it must match to be stored. */
interface PartDescription {
  size: number;
  crc: string;
}

const isNoSuchUpload = (err: unknown) => (err as { name?: string; Code?: string })?.name === 'NoSuchUpload';

/**
 * @tus/file-store whose `remove` (termination, expiry) keeps the object of a finished
 * upload: it belongs to the files service, which reads `<directory>/<id>`. Only the
 * upload's info file goes.
 */
export class TusFileStore extends FileStore implements PersistedOffsetSource, ConcatenatingStore {
  private readonly objectsDir: string;

  constructor(
    options: ConstructorParameters<typeof FileStore>[0],
    private readonly keepFinished: KeepFinishedUpload,
  ) {
    super(options);
    this.objectsDir = options.directory;
  }

  /** What `getUpload` answers too: the bytes in the upload's file. */
  async persistedOffset(id: string): Promise<number | undefined> {
    return (await stat(join(this.objectsDir, id)).catch(() => undefined))?.size;
  }

  /** On disk a final upload's file is its partials' files, one after another. */
  concatenate(finalId: string, partials: Upload[]): Promise<void> {
    return writeJoined(this, finalId, partials);
  }

  override async remove(id: string): Promise<void> {
    const upload = await this.getUpload(id);
    if (!holdsEveryByte(upload) || !(await this.keepFinished(upload))) return super.remove(id);
    await this.configstore.delete(id);
  }
}

/** A part being filled or sent: where it is held, and how to let it go (memory or file freed, semaphore permit back). */
interface SpooledPart {
  file: HeldPart;
  discard(): Promise<void>;
}

/** Where the S3 store holds parts on their way: in the pool's buffers while one is free, else in files in `dir`. */
export interface PartSpool {
  memory: PartBufferPool;
  dir: string;
  /** Each part started, by where it is held. */
  started?(medium: 'memory' | 'disk'): void;
}

/**
 * @tus/s3-store that keeps the upload database in step with S3: every part it uploads is
 * recorded with its number, size and ETag, and every ListParts it makes (the first look
 * of each HEAD and PATCH) corrects the record, so that after a crash between an
 * UploadPart and its row the next request repairs the row.
 *
 * The stock store asks S3 again at each step of one request (the parts three times in a
 * PATCH that completes an upload, the incomplete part twice). While this process holds
 * an upload's lock nothing else changes it, so a request asks once and reads the rest
 * from its LockedView, which the store's own writes keep current.
 */
export class RecordingS3Store extends S3Store implements PersistedOffsetSource, ConcatenatingStore {
  /** Each upload being written: the bytes its parts held before, and this write's pieces in order. */
  private readonly writing = new Map<string, { before: number; pieces: { size: number; stored: boolean }[] }>();

  constructor(
    options: S3StoreOptions,
    private readonly parts: UploadPartRepository,
    private readonly logger: Logger,
    /** Where parts wait between the request body and S3. */
    private readonly spool: PartSpool,
    private readonly keepFinished: KeepFinishedUpload,
    /** Uploads whose lock this process holds: the locker tells them (tellingHolder). */
    private readonly views: LockedViews,
    s3Metrics?: S3RequestMetrics,
  ) {
    super(options);
    // The store builds its own S3 client from the options: its requests are timed like ours.
    if (s3Metrics) instrumentS3Client(this.client, s3Metrics);
  }

  /**
   * During a write: the parts held before it, plus the pieces of it that are in S3, up to
   * the first that is not (parts finish out of order). Until the first piece lands this is
   * less than the upload's offset was, since the stock write takes the incomplete part
   * into its first piece.
   */
  async persistedOffset(id: string): Promise<number | undefined> {
    const progress = this.writing.get(id);
    if (!progress) return undefined;
    let offset = progress.before;
    for (const piece of progress.pieces) {
      if (!piece.stored) break;
      offset += piece.size;
    }
    return offset;
  }

  /**
   * An empty upload is complete once created: tus-js-client sends it as a POST alone, and
   * @tus/server registers it (onUploadFinish) with no write that would complete it in S3.
   */
  override async create(upload: Upload): Promise<Upload> {
    const created = await super.create(upload);
    if (created.size === 0) await this.completeHeldBytes(created);
    return created;
  }

  /**
   * The stock store reads an upload whose parts hold every byte as finished, whether or
   * not its CompleteMultipartUpload happened. If the instance writing it died in between,
   * the next HEAD would tell the client it is done, and the file would be registered with
   * no object behind it (its download a 404). Such an upload is completed here, under the
   * request's lock, before anyone is told its final offset.
   */
  override async getUpload(id: string): Promise<Upload> {
    const upload = await super.getUpload(id);
    if (holdsEveryByte(upload) && !(await this.holdsObject(id))) await this.completeHeldBytes(upload);
    return upload;
  }

  /**
   * Zero bytes written at the final offset: the stock write folds in an incomplete part,
   * if any, and completes the multipart upload (with one empty part for an empty upload).
   */
  private async completeHeldBytes(upload: Upload): Promise<void> {
    try {
      await this.write(Readable.from([]), upload.id, upload.size!);
    } catch (err) {
      // Neither a multipart upload nor an object: it was aborted, and its bytes are gone.
      if (isNoSuchUpload(err)) throw ERRORS.FILE_NOT_FOUND;
      throw err;
    }
  }

  /**
   * "a PATCH at offset == length on a finished upload" (tusd answers 204 with that offset),
   * or a completion another instance got to first: S3 has no multipart upload left to add
   * to, so nothing is written and the offset stands.
   */
  override async write(src: Readable, id: string, offset: number): Promise<number> {
    try {
      return await super.write(src, id, offset);
    } catch (err) {
      if (isNoSuchUpload(err) && (await this.getMetadata(id)).file.size === offset && (await this.holdsObject(id))) return offset;
      throw err;
    }
  }

  /**
   * The stock pipeline, with the same contract (parts of the optimal size go to S3 as they
   * fill, several at once within the store's semaphore; a short last piece becomes the
   * incomplete part; the bytes that reached S3 are returned), on a cheaper path: see
   * PartFile. A failed part stops the reading, and every part started is awaited.
   */
  protected override async uploadParts(metadata: MetadataValue, body: Readable, firstPartNumber: number, offset: number): Promise<number> {
    const size = metadata.file.size;
    const partSize = this.calcOptimalPartSize(size);
    const sending: Promise<void>[] = [];
    let nextPartNumber = firstPartNumber;
    let bytesUploaded = 0;
    let failure: unknown;
    let filling: SpooledPart | undefined;
    const progress = { before: offset, pieces: [] as { size: number; stored: boolean }[] };
    this.writing.set(metadata.file.id, progress);

    /** Closes the part and sends it (an empty one is only dropped); S3 takes it in the background. */
    const finish = async (part: SpooledPart) => {
      await part.file.close();
      if (part.file.size === 0) return part.discard();
      const partNumber = nextPartNumber++;
      offset += part.file.size;
      const piece = { size: part.file.size, stored: false };
      progress.pieces.push(piece);
      const sent = this.send(metadata, part, partNumber, part.file.size >= this.minPartSize || size === offset).then(
        () => {
          bytesUploaded += piece.size;
          piece.stored = true;
        },
        (err: unknown) => {
          failure ??= err;
          throw err;
        },
      );
      sent.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
      sending.push(sent);
    };

    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        if (failure) throw failure;
        for (let rest = chunk; rest.length > 0; ) {
          filling ??= await this.startPart(partSize);
          const piece = rest.subarray(0, partSize - filling.file.size);
          await filling.file.append(piece);
          rest = rest.subarray(piece.length);
          if (filling.file.size === partSize) {
            const full = filling;
            filling = undefined;
            await finish(full);
          }
        }
      }
      if (filling) await finish(filling);
    } catch (err) {
      await filling?.discard().catch(() => undefined);
      sending.push(Promise.reject(err));
    } finally {
      await Promise.allSettled(sending);
      if (this.writing.get(metadata.file.id) === progress) this.writing.delete(metadata.file.id);
    }
    await Promise.all(sending);
    return bytesUploaded;
  }

  /**
   * A place for the next part, once the store's semaphore lets one more part start: memory
   * if the budget allows and the part fits (a deferred-length upload's may not), else a file.
   */
  private async startPart(partSize: number): Promise<SpooledPart> {
    const permit = await this.partUploadSemaphore.acquire();
    const release = () => permit.release().catch(() => undefined);
    const buffer = partSize <= this.spool.memory.partSize ? await this.spool.memory.takeWithin(PART_MEMORY_WAIT_MS) : undefined;
    const file = buffer
      ? new MemoryPart(buffer, this.spool.memory)
      : await PartFile.create(this.spool.dir).catch(async (err) => {
          await release();
          throw err;
        });
    this.spool.started?.(buffer ? 'memory' : 'disk');
    return { file, discard: async () => void (await Promise.all([file.remove(), release()])) };
  }

  /** One part to S3 (or, short and not the last, as the incomplete part), then let go: only once its request is over. */
  private async send(metadata: MetadataValue, part: SpooledPart, partNumber: number, asPart: boolean): Promise<void> {
    const { size, checksum } = part.file;
    try {
      if (asPart) await this.putPart(metadata, part.file.read(), partNumber, { size, crc: checksum });
      else await this.putIncompletePart(metadata.file.id, part.file.read(), { size, crc: checksum });
    } finally {
      await part.discard().catch(() => undefined);
    }
  }

  /**
   * Every part goes with the CRC32 of its bytes, so that S3 stores it whole or not at all.
   * Without it, a body cut short (this process killed mid-part, a connection lost) can
   * be kept as if complete: versitygw keeps such a part at its announced length, the
   * missing bytes as zeros, and lists it, and the next HEAD would offer an offset past
   * bytes S3 never received. Every part, including the empty one the stock store sends
   * for a zero-byte upload, is recorded.
   */
  protected override async uploadPart(metadata: MetadataValue, body: ReadStream | Readable | Buffer, partNumber: number, checksum?: string): Promise<string> {
    return this.putPart(metadata, body, partNumber, await this.describe(body, checksum));
  }

  private async putPart(metadata: MetadataValue, body: Readable | Buffer, partNumber: number, { size, crc }: PartDescription): Promise<string> {
    const { ETag } = await this.client.uploadPart({
      Bucket: this.bucket,
      Key: metadata.file.id,
      UploadId: metadata['upload-id'],
      PartNumber: partNumber,
      Body: body,
      ContentLength: size,
      ChecksumCRC32: crc,
    });
    this.views.of(metadata.file.id)?.parts?.set(partNumber, { PartNumber: partNumber, Size: size, ETag });
    await this.record(metadata.file.id, [{ partNumber, size, etag: ETag ?? '' }]);
    return ETag!;
  }

  /** The incomplete part (`<id>.part`), with its CRC32 too: a cut one is not stored. */
  protected override async uploadIncompletePart(id: string, body: ReadStream | Readable, checksum?: string): Promise<string> {
    return this.putIncompletePart(id, body, await this.describe(body, checksum));
  }

  private async putIncompletePart(id: string, body: Readable, { size, crc }: PartDescription): Promise<string> {
    const view = this.views.of(id);
    if (view) view.incompletePartSize = undefined;
    const { ETag } = await this.client.putObject({
      Bucket: this.bucket,
      Key: this.partKey(id, true),
      Body: body,
      ContentLength: size,
      Tagging: this.useCompleteTag('false'),
      ChecksumCRC32: crc,
    });
    if (view) view.incompletePartSize = size;
    return ETag!;
  }

  /** A body's size and CRC32, for the stock store's own calls: a buffer is measured here; a file part carries its CRC32. */
  private async describe(body: ReadStream | Readable | Buffer, checksum: string | undefined): Promise<PartDescription> {
    if (Buffer.isBuffer(body)) return { size: body.length, crc: checksum ?? crc32Header(crc32(body)) };
    if (!(body instanceof ReadStream) || checksum === undefined) throw new Error('a part streamed to S3 needs its file and its CRC32');
    return { size: (await stat(body.path)).size, crc: checksum };
  }

  protected override async retrieveParts(id: string, partNumberMarker?: string) {
    const view = partNumberMarker === undefined ? this.views.of(id) : undefined;
    if (view?.parts) return [...view.parts.values()].sort((a, b) => a.PartNumber! - b.PartNumber!);
    const parts = await super.retrieveParts(id, partNumberMarker);
    if (partNumberMarker === undefined) {
      await this.record(
        id,
        parts.map((p) => ({ partNumber: p.PartNumber!, size: p.Size ?? 0, etag: p.ETag ?? '' })),
      );
      if (view) view.parts = new Map(parts.map((p) => [p.PartNumber!, p]));
    }
    return parts;
  }

  /** Once completed, the multipart upload is gone: the next look at its parts asks S3 (NoSuchUpload). */
  protected override async finishMultipartUpload(metadata: MetadataValue, parts: Part[]): Promise<string | undefined> {
    try {
      return await super.finishMultipartUpload(metadata, parts);
    } finally {
      const view = this.views.of(metadata.file.id);
      if (view) view.parts = undefined;
    }
  }

  protected override async getMetadata(id: string): Promise<MetadataValue> {
    const view = this.views.of(id);
    if (view?.metadata) return view.metadata;
    const metadata = await super.getMetadata(id);
    if (view) view.metadata = metadata;
    return metadata;
  }

  /**
   * The stock `.info` object, and the same info in the cache, where the stock store puts
   * it only after reading the object back (a GetObject per upload). A length declared
   * later (creation-defer-length) is saved here too, so the cache never holds an old one.
   */
  protected override async saveMetadata(upload: Upload, uploadId: string): Promise<void> {
    const view = this.views.of(upload.id);
    if (view) view.metadata = undefined;
    await super.saveMetadata(upload, uploadId);
    const { id, size, offset, metadata: tusMetadata, storage, creation_date } = upload;
    const metadata: MetadataValue = { file: new Upload({ id, size, offset, metadata: tusMetadata, storage, creation_date }), 'upload-id': uploadId, 'tus-version': TUS_RESUMABLE };
    await this.cache.set(upload.id, metadata);
    if (view) view.metadata = metadata;
  }

  protected override async getIncompletePartSize(id: string): Promise<number | undefined> {
    const view = this.views.of(id);
    if (view?.incompletePartSize !== undefined) return view.incompletePartSize ?? undefined;
    const size = await super.getIncompletePartSize(id);
    if (view) view.incompletePartSize = size ?? null;
    return size;
  }

  /** No GetObject for an incomplete part this request already knows is not there. */
  protected override async downloadIncompletePart(id: string) {
    if (this.views.of(id)?.incompletePartSize === null) return undefined;
    return super.downloadIncompletePart(id);
  }

  protected override async deleteIncompletePart(id: string): Promise<void> {
    const view = this.views.of(id);
    if (view) view.incompletePartSize = undefined;
    await super.deleteIncompletePart(id);
    if (view) view.incompletePartSize = null;
  }

  /**
   * tusd's concatUsingMultipart: each partial's object becomes parts of the final upload by
   * UploadPartCopy, so no byte passes through this process (a partial over S3's 5 GiB part
   * limit is copied in ranges). S3 wants every part but the last of at least 5 MiB; when a
   * partial is smaller than that (or empty), the partials are streamed through instead.
   */
  async concatenate(finalId: string, partials: Upload[]): Promise<void> {
    const copyable = partials.every((p, i) => p.size! > 0 && (i === partials.length - 1 || p.size! >= this.minPartSize));
    if (!copyable) return writeJoined(this, finalId, partials);
    const metadata = await this.getMetadata(finalId);
    const copies = partials.flatMap((partial) => copyRanges(partial.size!).map((range) => ({ partial, range })));
    const copy = async ({ partial, range }: (typeof copies)[number], index: number) => {
      const partNumber = index + 1;
      const { CopyPartResult } = await this.client.uploadPartCopy({
        Bucket: this.bucket,
        Key: finalId,
        UploadId: metadata['upload-id'],
        PartNumber: partNumber,
        CopySource: `${this.bucket}/${encodeURIComponent(partial.id)}`,
        CopySourceRange: range.whole ? undefined : `bytes=${range.start}-${range.end - 1}`,
      });
      await this.record(finalId, [{ partNumber, size: range.end - range.start, etag: CopyPartResult?.ETag ?? '' }]);
    };
    for (let i = 0; i < copies.length; i += CONCURRENT_COPIES) {
      await Promise.all(copies.slice(i, i + CONCURRENT_COPIES).map((c, j) => copy(c, i + j)));
    }
    // The copies are parts the view (if any) never saw.
    const view = this.views.of(finalId);
    if (view) view.parts = undefined;
    await this.finishMultipartUpload(metadata, await this.retrieveParts(finalId));
    await this.completeMetadata(metadata.file);
    await this.clearCache(finalId);
  }

  /**
   * Termination and expiry. A finished upload's object belongs to the files service: only
   * its `.info` goes (with the object itself only when no file holds it: a partial). Otherwise the stock remove, which leaves the incomplete-part object
   * (`<id>.part`) behind.
   */
  override async remove(id: string): Promise<void> {
    const upload = await this.getUpload(id);
    // Whatever this does or fails to do, a look after it asks S3.
    this.views.forget(id);
    if (holdsEveryByte(upload) && (await this.holdsObject(id))) {
      const kept = await this.keepFinished(upload);
      const objects = [{ Key: this.infoKey(id) }, { Key: this.partKey(id, true) }, ...(kept ? [] : [{ Key: id }])];
      await this.client.deleteObjects({ Bucket: this.bucket, Delete: { Objects: objects } });
      await this.clearCache(id);
      return;
    }
    await super.remove(id);
    await this.client.deleteObject({ Bucket: this.bucket, Key: this.partKey(id, true) }).catch(() => undefined);
  }

  /**
   * The stock store takes "no multipart upload" for "completed"; an aborted one looks the
   * same. Only the object itself tells them apart.
   */
  private async holdsObject(id: string): Promise<boolean> {
    try {
      await this.client.headObject({ Bucket: this.bucket, Key: id });
      return true;
    } catch (err) {
      if ((err as { name?: string })?.name === 'NotFound' || (err as { name?: string })?.name === 'NoSuchKey') return false;
      throw err;
    }
  }

  private async record(uploadId: string, parts: { partNumber: number; size: number; etag: string }[]): Promise<void> {
    // The record follows S3, never the other way: a failed write here is repaired by the next ListParts.
    await this.parts.record(uploadId, parts).catch((err) => this.logger.warn({ err, uploadId }, 'parts not recorded'));
  }
}

export function createDataStore(options: {
  s3?: S3Settings;
  /** Times the S3 store's requests (it builds its own client). */
  s3Metrics?: S3RequestMetrics;
  storageDir: string;
  expirySeconds: number;
  maxUploadSize: number;
  parts: UploadPartRepository;
  cache: KvStore<unknown>;
  /** Where S3 parts wait between the body and S3 (unused with disk storage). */
  spool: PartSpool;
  logger: Logger;
  keepFinished: KeepFinishedUpload;
  /** The uploads whose tus lock this process holds (the locker tells them); without it, every look asks S3. */
  views?: LockedViews;
}): DataStore & ConcatenatingStore {
  const expirationPeriodInMilliseconds = options.expirySeconds * 1000;
  if (!options.s3) return new TusFileStore({ directory: options.storageDir, expirationPeriodInMilliseconds }, options.keepFinished);
  const s3 = options.s3;
  return new RecordingS3Store(
    {
      partSize: partSizeFor(options.maxUploadSize),
      maxMultipartParts: MAX_PARTS,
      expirationPeriodInMilliseconds,
      cache: options.cache as S3StoreOptions['cache'],
      s3ClientConfig: {
        bucket: s3.bucket,
        endpoint: s3.endpoint,
        region: s3.region,
        forcePathStyle: s3.forcePathStyle,
        credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      },
    },
    options.parts,
    options.logger,
    options.spool,
    options.keepFinished,
    options.views ?? new LockedViews(),
    options.s3Metrics,
  );
}
