import type { Api } from '../api/client.ts';
import type { UnfinishedUpload } from '../api/uploads-api.ts';
import { COMPANION_ERROR_PREFIX } from './companion-fetch.ts';
import { createUploader, tusUploadUrl } from './uploader.ts';

export interface ResumeProgress {
  bytesUploaded: number;
  bytesTotal: number;
}

export interface ResumingUpload {
  readonly upload: UnfinishedUpload;
  /** Resolves with the file id (undefined if the server could not name it yet); rejects with a message for people. */
  readonly done: Promise<string | undefined>;
  onProgress(listener: (progress: ResumeProgress) => void): () => void;
}

const resuming = new Map<string, ResumingUpload>();

/** The resume in flight in this tab for an unfinished upload, so that a screen opened again shows it. */
export function resumingUpload(uploadId: string): ResumingUpload | undefined {
  return resuming.get(uploadId);
}

/** Why a picked file cannot continue this upload, or undefined when it can: name and size must match. */
export function mismatch(upload: UnfinishedUpload, file: File): string | undefined {
  if (file.name === upload.name && file.size === upload.size) return undefined;
  return `That file is "${file.name}" (${file.size} bytes); this upload is "${upload.name}" (${upload.size ?? '?'} bytes). Pick the same file to resume it.`;
}

/**
 * Continues an unfinished upload with the same file, from the server's offset, on any
 * device: tus from its upload URL (HEAD, then PATCHes), direct from its uploadId and key
 * (list parts, send the missing ones). Nothing from this browser's storage is needed.
 */
export function resumeUpload(api: Api, upload: UnfinishedUpload, file: File): ResumingUpload {
  const running = resuming.get(upload.id);
  if (running) return running;
  const { uppy, onFileUploaded } = createUploader({ api, id: `govault-resume-${upload.id}`, mode: upload.mode, remember: false, autoProceed: false });
  const listeners = new Set<(progress: ResumeProgress) => void>();
  const fileId = uppy.addFile({ name: file.name, type: file.type, data: file, source: 'unfinished-uploads' });
  if (upload.mode === 'tus') uppy.setFileState(fileId, { tus: { uploadUrl: tusUploadUrl(upload.id) } });
  else uppy.setFileState(fileId, { s3Multipart: { uploadId: upload.uploadId ?? upload.id, key: upload.key ?? upload.id } });
  uppy.on('upload-progress', (_file, progress) => {
    for (const listener of listeners) listener({ bytesUploaded: Number(progress.bytesUploaded) || 0, bytesTotal: progress.bytesTotal ?? file.size });
  });
  const done = new Promise<string | undefined>((resolve, reject) => {
    let settled = false;
    onFileUploaded((id) => ((settled = true), resolve(id)));
    uppy.on('upload-success', () => setTimeout(() => settled || resolve(undefined), 30_000));
    uppy.on('upload-error', (_file, error) => reject(new Error(error.message.replace(COMPANION_ERROR_PREFIX, ''))));
  }).finally(() => resuming.delete(upload.id));
  const handle: ResumingUpload = {
    upload,
    done,
    onProgress(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  resuming.set(upload.id, handle);
  uppy.upload().catch(() => undefined);
  return handle;
}
