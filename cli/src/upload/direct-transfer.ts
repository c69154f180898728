import { createHash } from 'node:crypto';
import { answerError } from '../api/http.ts';
import { assertUnchanged, readRange } from './local-file.ts';
import { UploadGone, uploadMetadata, type Transfer, type TransferContext } from './transfer.ts';

const MULTIPART = '/api/uploads/s3/multipart';

interface CreatedUpload {
  key: string;
  uploadId: string;
  partSize: number;
  minPartSize: number;
  maxParts: number;
}

interface StoredPart {
  PartNumber: number;
  Size: number;
  ETag: string;
}

/**
 * A direct multipart upload on Uppy Companion's routes: parts go to the URLs the server
 * signs (S3 itself, or the upload service in embedded mode). Resuming asks the server
 * which parts it holds and sends only the others.
 */
export const directTransfer: Transfer = async (context) => {
  const { entry, store } = context;
  if (!entry.multipart) {
    const created = await create(context);
    entry.multipart = { uploadId: created.uploadId, key: created.key, partSize: partSizeFor(context, created) };
    store.saveNow(entry);
  }
  const { uploadId, key, partSize } = entry.multipart;
  const query = `key=${encodeURIComponent(key)}`;
  const base = `${MULTIPART}/${uploadId}`;
  const held = await storedParts(context, `${base}?${query}`);
  const size = entry.fingerprint.size;
  const count = Math.max(1, Math.ceil(size / partSize));
  const parts = new Map<number, string>();
  let stored = 0;
  for (const part of held) {
    // A part counts only if it has the bytes this file's cut gives it.
    if (part.PartNumber <= count && part.Size === partLength(part.PartNumber, partSize, size)) {
      parts.set(part.PartNumber, part.ETag);
      stored += part.Size;
    }
  }
  context.onStart(stored);
  for (let number = 1; number <= count; number++) {
    if (parts.has(number)) continue;
    parts.set(number, await sendPart(context, `${base}/${number}?${query}`, number, partSize));
    stored += partLength(number, partSize, size);
    context.onProgress(stored);
  }
  const claimed = [...parts].sort(([a], [b]) => a - b).map(([PartNumber, ETag]) => ({ PartNumber, ETag }));
  const done = await context.session.json<{ fileId?: string }>('POST', `${base}/complete?${query}`, { body: { parts: claimed } });
  if (!done.body.fileId) throw new Error('the server assembled the file but could not register it yet; run the command again');
  return { fileId: done.body.fileId };
};

async function create(context: TransferContext): Promise<CreatedUpload> {
  const { item, entry } = context;
  const body = { filename: item.name, type: item.contentType, size: entry.fingerprint.size, metadata: uploadMetadata(context) };
  return (await context.session.json<CreatedUpload>('POST', MULTIPART, { body })).body;
}

/** The user's part size where the server allows it: at least its minimum, and few enough parts. */
function partSizeFor(context: TransferContext, created: CreatedUpload): number {
  const fit = Math.ceil(context.entry.fingerprint.size / created.maxParts);
  return Math.max(context.chunkSize, created.minPartSize, fit);
}

const partLength = (number: number, partSize: number, size: number) => Math.min(partSize, size - (number - 1) * partSize);

async function storedParts(context: TransferContext, path: string): Promise<StoredPart[]> {
  const answer = await context.session.json<StoredPart[]>('GET', path, { accept: [404] });
  if (answer.status === 404) throw new UploadGone('the server no longer has the direct upload');
  return answer.body;
}

async function sendPart(context: TransferContext, signPath: string, number: number, partSize: number): Promise<string> {
  const { entry, item, session } = context;
  const { url } = (await session.json<{ url: string }>('GET', signPath)).body;
  const start = (number - 1) * partSize;
  await assertUnchanged(item.path, entry.fingerprint);
  const bytes = await readRange(item.path, start, start + partLength(number, partSize, entry.fingerprint.size));
  // Content-MD5 makes the store keep the part whole or not at all. Without it, a PUT cut
  // short (this process killed, the link lost) can be kept as complete: versitygw stores
  // such a part at its announced length with the missing bytes as zeros and lists it, and
  // the next run would skip it and assemble a corrupt file. It is not part of the
  // presigned signature, so every part URL takes it.
  const md5 = createHash('md5').update(bytes).digest('base64');
  const answer = await session.http.send('PUT', url, { body: bytes, headers: { 'content-md5': md5 } });
  const etag = answer.headers.get('etag');
  await answer.body?.cancel();
  if (!answer.ok || !etag) throw answerError(answer.status, undefined, 'PUT', `part ${number}`);
  return etag;
}
