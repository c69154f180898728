import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { payloadTooLarge } from '@govault/lib';
import type { MultipartStore, MultipartTarget, PartSink } from './multipart-store.ts';
import type { StoredPart } from './part-list.ts';
import type { PartUrlSigner } from './part-url-signer.ts';

/** `<partNumber>-<md5 hex>`: a part file names the bytes it holds, as an S3 ETag does. */
const PART_FILE = /^(\d{1,5})-([0-9a-f]{32})$/;
export const PART_URL_PATH = '/api/uploads/parts';

/**
 * Embedded mode: the same client contract as S3 with the upload service standing in for
 * it. Part URLs point back at the service (through the gateway), signed with an HMAC;
 * parts are files under `<storageDir>/.multipart/<uploadId>/`, and `complete` joins them
 * into `<storageDir>/<key>`, where the files service reads objects.
 */
export class DiskMultipartStore implements MultipartStore, PartSink {
  constructor(
    private readonly storageDir: string,
    private readonly signer: PartUrlSigner,
  ) {}

  async create(uploadId: string): Promise<string> {
    await mkdir(this.partsDir(uploadId), { recursive: true });
    return uploadId;
  }

  async partUrl(target: MultipartTarget, partNumber: number, origin: string): Promise<string> {
    return `${origin}${PART_URL_PATH}/${encodeURIComponent(target.uploadId)}/${partNumber}?${this.signer.sign(target.uploadId, partNumber)}`;
  }

  async writePart(uploadId: string, partNumber: number, body: Readable, maxBytes: number): Promise<StoredPart | undefined> {
    const dir = this.partsDir(uploadId);
    if (!(await isDirectory(dir))) return undefined;
    const draft = join(dir, `.draft-${randomBytes(8).toString('hex')}`);
    const md5 = createHash('md5');
    let size = 0;
    const measure = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        size += chunk.length;
        if (size > maxBytes) return done(payloadTooLarge(`a part may have at most ${maxBytes} bytes`));
        md5.update(chunk);
        done(null, chunk);
      },
    });
    try {
      await pipeline(body, measure, createWriteStream(draft));
    } catch (err) {
      await unlink(draft).catch(() => undefined);
      throw err;
    }
    const etag = md5.digest('hex');
    try {
      await rename(draft, join(dir, `${partNumber}-${etag}`));
    } catch (err) {
      await unlink(draft).catch(() => undefined);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // aborted while the body arrived
      throw err;
    }
    return { partNumber, size, etag: `"${etag}"` };
  }

  async listParts(target: MultipartTarget): Promise<StoredPart[] | undefined> {
    const dir = this.partsDir(target.uploadId);
    const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (!names) return undefined;
    // A part sent again leaves its earlier version beside it until complete or abort
    // removes the folder; the newest counts, as in S3.
    const newest = new Map<number, StoredPart & { mtimeMs: number }>();
    for (const name of names) {
      const match = PART_FILE.exec(name);
      if (!match) continue;
      const stats = await stat(join(dir, name)).catch(() => undefined);
      if (!stats) continue;
      const partNumber = Number(match[1]);
      const seen = newest.get(partNumber);
      if (!seen || stats.mtimeMs > seen.mtimeMs) {
        newest.set(partNumber, { partNumber, size: stats.size, etag: `"${match[2]}"`, mtimeMs: stats.mtimeMs });
      }
    }
    return [...newest.values()]
      .sort((a, b) => a.partNumber - b.partNumber)
      .map(({ partNumber, size, etag }) => ({ partNumber, size, etag }));
  }

  /** Joins the named part files (exactly the bytes their ETags name) and moves the result into place. */
  async complete(target: MultipartTarget, parts: StoredPart[]): Promise<number> {
    const dir = this.partsDir(target.uploadId);
    const draft = join(this.storageDir, `.assembling-${target.uploadId}-${randomBytes(4).toString('hex')}`);
    const out = createWriteStream(draft);
    try {
      for (const part of parts) {
        await pipeline(createReadStream(join(dir, `${part.partNumber}-${part.etag.replaceAll('"', '')}`)), out, { end: false });
      }
      await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
      await rename(draft, join(this.storageDir, target.key));
    } catch (err) {
      out.destroy();
      await unlink(draft).catch(() => undefined);
      throw err;
    }
    await rm(dir, { recursive: true, force: true });
    return (await stat(join(this.storageDir, target.key))).size;
  }

  async abort(target: MultipartTarget): Promise<void> {
    await rm(this.partsDir(target.uploadId), { recursive: true, force: true });
  }

  async discardObject(key: string): Promise<void> {
    await rm(join(this.storageDir, key), { force: true });
  }

  private partsDir(uploadId: string): string {
    if (!/^[0-9a-f]{32}$/.test(uploadId)) throw new Error(`unexpected upload id ${JSON.stringify(uploadId)}`);
    return join(this.storageDir, '.multipart', uploadId);
  }
}

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}
