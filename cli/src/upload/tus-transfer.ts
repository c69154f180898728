import * as tus from 'tus-js-client';
import { ChecksumHttpStack, pathReader, type PathInput } from './tus-io.ts';
import { UploadGone, uploadMetadata, type Transfer } from './transfer.ts';

/** Answers to a resume HEAD that mean the saved upload is not there for this user any more. */
const GONE = new Set([403, 404, 410]);

/**
 * A tus upload with tus-js-client. Resuming, it is given only the saved URL and no
 * endpoint: tus-js-client would otherwise answer any failed HEAD (a 503 while the server
 * restarts, a 429) by creating a new upload and sending the file again from zero.
 */
export const tusTransfer: Transfer = (context) => {
  const { session, item, entry, store } = context;
  const resuming = entry.tusUrl !== undefined;
  let fileId: string | undefined;
  let startOffset: number | undefined;
  return new Promise((resolve, reject) => {
    const input: PathInput = { path: item.path, fingerprint: entry.fingerprint };
    const upload = new tus.Upload(input as never, {
      ...(resuming ? { uploadUrl: entry.tusUrl } : { endpoint: session.http.url('/api/uploads/tus') }),
      uploadSize: entry.fingerprint.size,
      chunkSize: context.chunkSize,
      retryDelays: null,
      fileReader: pathReader,
      httpStack: new ChecksumHttpStack(context.checksum),
      metadata: uploadMetadata(context),
      onBeforeRequest: async (req) => req.setHeader('Authorization', await session.authorization()),
      onAfterResponse: (req, res) => {
        fileId = res.getHeader('GoVault-File-Id') ?? fileId;
        if (startOffset !== undefined) return;
        if (req.getMethod() === 'POST' && res.getStatus() === 201) startOffset = 0;
        if (req.getMethod() === 'HEAD' && res.getStatus() === 200) startOffset = Number(res.getHeader('Upload-Offset'));
        if (startOffset !== undefined) context.onStart(startOffset);
      },
      onUploadUrlAvailable: () => {
        if (upload.url === entry.tusUrl) return;
        entry.tusUrl = upload.url ?? undefined;
        store.saveNow(entry);
      },
      onProgress: (sent) => context.onProgress(sent),
      onSuccess: () => {
        if (!fileId) return reject(new Error('the server finished the upload but named no file (no GoVault-File-Id)'));
        resolve({ fileId });
      },
      onError: (err) => {
        const status = (err as tus.DetailedError).originalResponse?.getStatus();
        const resumeRefused = resuming && startOffset === undefined && status !== undefined && GONE.has(status);
        reject(resumeRefused ? new UploadGone(`the server no longer has the upload (HTTP ${status})`) : err);
      },
    });
    upload.start();
  });
};

/** The HTTP status of a failed tus-js-client request, if it got an answer. */
export function tusStatus(err: unknown): { status?: number; retryAfter?: string } {
  const response = (err as tus.DetailedError)?.originalResponse;
  if (!response) return {};
  return { status: response.getStatus(), retryAfter: response.getHeader('Retry-After') ?? undefined };
}
