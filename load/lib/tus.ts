import * as tus from 'tus-js-client';
import type { Recorder } from './recorder.ts';

export interface TusUploadOptions {
  baseUrl: string;
  token: string;
  name: string;
  bytes: Buffer;
  recorder: Recorder;
  chunkSize: number;
  /** Abort (without terminating) once this share of the bytes is sent, then resume from the upload URL. */
  interruptAt?: number;
  retryDelays?: number[];
  signal: AbortSignal;
}

const KINDS: Record<string, string> = { POST: 'tus_create', PATCH: 'tus_patch', HEAD: 'tus_head' };

/**
 * One tus upload with tus-js-client, each of its HTTP requests timed by kind
 * (tus_create, tus_patch, tus_head). Resolves whether it was interrupted and resumed.
 */
export async function tusUpload(options: TusUploadOptions): Promise<{ resumed: boolean }> {
  const { recorder } = options;
  const started = new Map<unknown, number>();
  const failed = (err: Error) => {
    const request = (err as tus.DetailedError).originalRequest;
    const at = request ? started.get(request) : undefined;
    if (request && at !== undefined) {
      started.delete(request);
      recorder.request(KINDS[request.getMethod()] ?? 'tus_other', performance.now() - at, false);
      recorder.error(`tus ${options.name}: ${err.message.split('\n')[0]}`);
    } else if (!err.message.includes('response code:')) {
      recorder.error(`tus ${options.name}: ${err.message.split('\n')[0]}`); // no answer at all
    }
  };
  const attempt = (uploadUrl: string | undefined, interruptAt: number | undefined) =>
    new Promise<{ interrupted: boolean; url: string | null }>((resolve, reject) => {
      let interrupted = false;
      const upload: tus.Upload = new tus.Upload(options.bytes, {
        endpoint: `${options.baseUrl}/api/uploads/tus`,
        uploadUrl,
        chunkSize: options.chunkSize,
        headers: { authorization: `Bearer ${options.token}` },
        metadata: { filename: options.name, filetype: 'application/octet-stream' },
        retryDelays: options.retryDelays ?? [],
        storeFingerprintForResuming: false,
        onBeforeRequest: (req) => {
          started.set(req, performance.now());
        },
        onAfterResponse: (req, res) => {
          const at = started.get(req);
          started.delete(req);
          if (at === undefined) return;
          const status = res.getStatus();
          recorder.request(KINDS[req.getMethod()] ?? 'tus_other', performance.now() - at, status < 400);
          if (status >= 400) recorder.error(`tus ${options.name}: ${req.getMethod()} answered ${status} ${res.getBody()?.slice(0, 200) ?? ''}`);
        },
        onShouldRetry: (err) => {
          failed(err);
          const status = err.originalResponse?.getStatus() ?? 0;
          return !options.signal.aborted && (status === 0 || status >= 500 || status === 409 || status === 423);
        },
        onChunkComplete: (chunk) => recorder.sent(chunk),
        onProgress: (sent, total) => {
          if (interruptAt === undefined || interrupted || sent < interruptAt * total || sent >= total) return;
          interrupted = true;
          void upload.abort(false).then(() => resolve({ interrupted: true, url: upload.url }), reject);
        },
        onSuccess: () => resolve({ interrupted: false, url: upload.url }),
        onError: (err) => {
          failed(err);
          reject(err);
        },
      });
      const onAbort = () => {
        void upload.abort(false);
        reject(new Error('stopped by the hard deadline'));
      };
      if (options.signal.aborted) return onAbort();
      options.signal.addEventListener('abort', onAbort, { once: true });
      upload.start();
    });

  const first = await attempt(undefined, options.interruptAt);
  if (!first.interrupted) return { resumed: false };
  if (!first.url) throw new Error(`${options.name}: interrupted before it had an upload URL`);
  recorder.count('uploads_interrupted');
  const second = await attempt(first.url, undefined);
  if (second.interrupted) throw new Error('interrupted twice');
  recorder.count('uploads_resumed');
  return { resumed: true };
}
