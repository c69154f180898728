import { randomBytes } from 'node:crypto';
import * as tus from 'tus-js-client';

const MiB = 1024 * 1024;
const pattern = randomBytes(16 * MiB);

/** `size` bytes in memory, a random 16 MiB pattern repeated: no client time goes into making them. */
export function bytesOf(size: number): Buffer {
  const data = Buffer.allocUnsafe(size);
  for (let at = 0; at < size; at += pattern.length) pattern.copy(data, at, 0, Math.min(pattern.length, size - at));
  return data;
}

/** One tus-js-client upload from memory, its defaults but no retries; `parallelUploads` > 1 uses concatenation. */
export function tusUpload(endpoint: string, data: Buffer, headers: Record<string, string>, parallelUploads = 1): Promise<void> {
  return new Promise((resolve, reject) => {
    const upload = new tus.Upload(data, {
      endpoint,
      headers,
      retryDelays: [],
      parallelUploads,
      metadata: { filename: 'bench.bin', filetype: 'application/octet-stream' },
      onSuccess: () => resolve(),
      onError: reject,
    });
    upload.start();
  });
}
