import Uppy from '@uppy/core';
import Tus from '@uppy/tus';

/**
 * Uppy with @uppy/tus as a site that embeds it would set it up: its defaults, plus the
 * endpoint and the user's token. The restart and parallel-upload tests drive it through `window.uploadAll`.
 */
export interface UploadedFile {
  name: string;
  size: number;
  sha256: string;
  uploadUrl: string | undefined;
}

export interface UploadOutcome {
  files: UploadedFile[];
  failed: string[];
  errors: string[];
}

declare global {
  interface Window {
    /** `tusOptions`: what a site would add to @uppy/tus's options (the parallel-upload test: `parallelUploads`). */
    uploadAll(token: string, files: Array<{ name: string; size: number }>, tusOptions?: { parallelUploads?: number }): Promise<UploadOutcome>;
  }
}

function randomBytes(size: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  for (let at = 0; at < size; at += 65_536) crypto.getRandomValues(bytes.subarray(at, Math.min(size, at + 65_536)));
  return bytes;
}

const hex = (digest: ArrayBuffer) => [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');

window.uploadAll = async (token, wanted, tusOptions = {}) => {
  const uppy = new Uppy({ autoProceed: false }).use(Tus, {
    endpoint: '/api/uploads/tus',
    headers: { authorization: `Bearer ${token}` },
    ...tusOptions,
  });
  const errors: string[] = [];
  uppy.on('upload-error', (file, error) => errors.push(`${file?.name}: ${error.message}`));
  const files: UploadedFile[] = [];
  for (const { name, size } of wanted) {
    const bytes = randomBytes(size);
    uppy.addFile({ name, type: 'application/octet-stream', data: new File([bytes], name, { type: 'application/octet-stream' }) });
    files.push({ name, size, sha256: hex(await crypto.subtle.digest('SHA-256', bytes)), uploadUrl: undefined });
  }
  const result = await uppy.upload();
  for (const file of uppy.getFiles()) {
    const entry = files.find((f) => f.name === file.name);
    if (entry) entry.uploadUrl = file.tus?.uploadUrl ?? undefined;
  }
  return { files, failed: (result?.failed ?? []).map((f) => f.name ?? '?'), errors };
};
