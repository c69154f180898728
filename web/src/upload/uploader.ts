import AwsS3 from '@uppy/aws-s3';
import Uppy, { type Body, type Meta, type UppyFile } from '@uppy/core';
import GoldenRetriever from '@uppy/golden-retriever';
import Tus from '@uppy/tus';
import type { Api } from '../api/client.ts';
import { TUS_PATH, type UnfinishedUpload } from '../api/uploads-api.ts';
import { COMPANION_ENDPOINT, COMPANION_ERROR_PREFIX, SIZE_META, addPartSource, installCompanionFetch } from './companion-fetch.ts';
import { TusAccessToken } from './tus-access-token.ts';

export type UploadMode = 'tus' | 'direct';
export type GovaultFile = UppyFile<Meta, Body>;

/**
 * 8 MiB PATCHes: the S3 store keeps 8 MiB parts, so no chunk leaves a partial part to
 * stitch; and each request checks the (short-lived) access token again, so a token that
 * expires mid-file is renewed between two chunks. The server keeps what an interrupted
 * PATCH delivered, so the size costs nothing on resume.
 */
const TUS_CHUNK_SIZE = 8 * 1024 * 1024;
/** Retries of tus-js-client for 5xx, offline and 409/423 (a restart of the upload service, a lost connection). */
const TUS_RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000, 30000];
const MiB = 1024 * 1024;
/** Files uploading at once: the browser opens 6 connections per origin, and the app's own calls need one. */
const PARALLEL_FILES = 3;

export const EMPTY_FILE_DIRECT = 'Empty files can only be uploaded in Resumable (tus) mode.';

export interface UploaderOptions {
  api: Api;
  /** Uppy's instance id: also the key of Golden Retriever's store and of tus fingerprints. */
  id: string;
  mode: UploadMode;
  maxFileSize?: number;
  /** Golden Retriever (reload survival) and matching new files against the server's unfinished uploads. */
  remember: boolean;
  autoProceed: boolean;
}

export interface Uploader {
  readonly uppy: Uppy<Meta, Body>;
  readonly mode: UploadMode;
  /** Called once per finished file with its file id. */
  onFileUploaded(listener: (fileId: string, file: GovaultFile) => void): () => void;
  /** Stops transfers without terminating anything on the server (they stay resumable). */
  pause(): void;
}

/** A tus upload's URL, as the server's Location names it. */
export const tusUploadUrl = (id: string) => new URL(`${TUS_PATH}/${encodeURIComponent(id)}`, location.origin).href;

/**
 * Direct parts: the smallest whole MiB of at least 5 MiB that fits the file in 10,000
 * parts, as the server advises. A function of the size alone, so a resumed upload cuts the
 * file exactly as the first attempt did.
 */
export const directPartSize = (size: number) => Math.max(5 * MiB, Math.ceil(size / 10_000 / MiB) * MiB);

export function createUploader(options: UploaderOptions): Uploader {
  const { api, mode } = options;
  const listeners = new Set<(fileId: string, file: GovaultFile) => void>();
  const uppy: Uppy<Meta, Body> = new Uppy<Meta, Body>({
    id: options.id,
    autoProceed: options.autoProceed,
    restrictions: { maxFileSize: options.maxFileSize ?? null },
    onBeforeFileAdded: (file, files) => resumeOnReAdd(uppy, mode, file, files),
    locale: {
      strings: {
        exceedsSize: '%{file} is larger than this server accepts (at most %{size}).',
        noDuplicates: '%{fileName} is already uploading.',
      },
    } as never,
  });

  const tusFileIds = new Map<string, string>();
  const tusRefusals = new Map<string, string>();
  if (mode === 'tus') {
    const token = new TusAccessToken(api.session);
    uppy.use(Tus, {
      endpoint: new URL(TUS_PATH, location.origin).href,
      chunkSize: TUS_CHUNK_SIZE,
      retryDelays: TUS_RETRY_DELAYS,
      limit: PARALLEL_FILES,
      removeFingerprintOnSuccess: true,
      allowedMetaFields: ['name', 'type', 'relativePath'],
      onBeforeRequest: async (req) => {
        req.setHeader('Authorization', `Bearer ${await token.current()}`);
      },
      onShouldRetry: (err, _attempt, _options, next) => {
        if (err.originalResponse?.getStatus() === 401) return token.renewAfter401(err.originalRequest?.getHeader('Authorization'));
        return next(err);
      },
      onAfterResponse: (req, res) => {
        const fileId = res.getHeader('GoVault-File-Id');
        if (fileId) tusFileIds.set(req.getURL(), fileId);
        const refusal = res.getHeader('GoVault-Registration-Error');
        if (refusal) tusRefusals.set(req.getURL(), refusal);
      },
    });
  } else {
    installCompanionFetch(api);
    uppy.use(AwsS3, {
      companionEndpoint: COMPANION_ENDPOINT,
      shouldUseMultipart: true,
      getChunkSize: ({ size }) => directPartSize(size),
      allowedMetaFields: ['name', 'type', 'relativePath', SIZE_META],
      limit: PARALLEL_FILES,
    });
    addPartSource((uploadId) => {
      const file = Object.values(uppy.getState().files).find((f) => (f as GovaultFile).s3Multipart?.uploadId === uploadId);
      return file?.data instanceof Blob ? { data: file.data, partSize: directPartSize(file.data.size) } : undefined;
    });
  }

  if (options.remember) {
    uppy.use(GoldenRetriever);
    uppy.on('restored', () => resumeRestored(uppy));
    uppy.addPreProcessor((fileIDs) => claimUnfinished(api, uppy, mode, fileIDs));
  }

  uppy.on('file-added', () => {
    // Every ghost of the restored session was picked again: the "restored" state is over.
    const { recoveredState, files } = uppy.getState();
    if (recoveredState && !Object.values(files).some((f) => f.isGhost)) uppy.setState({ recoveredState: null });
  });

  uppy.on('upload-error', (file, error) => {
    if (file && error.message.startsWith(COMPANION_ERROR_PREFIX)) {
      uppy.setFileState(file.id, { error: error.message.slice(COMPANION_ERROR_PREFIX.length) });
    }
  });

  uppy.on('upload-success', (file, response) => {
    if (!file) return;
    const url = response.uploadURL ?? '';
    const announce = (fileId: string | undefined) => {
      if (fileId) for (const listener of listeners) listener(fileId, file);
    };
    if (mode === 'direct') return announce(fileIdFromLocation(url));
    const refusal = tusRefusals.get(url);
    if (refusal) uppy.info(`${file.name} was uploaded, but GoVault could not add it to your files (${refusal}).`, 'error', 10_000);
    else if (tusFileIds.has(url)) announce(tusFileIds.get(url));
    else void fileIdLater(api, url).then(announce);
  });

  return {
    uppy,
    mode,
    onFileUploaded(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    pause() {
      uppy.pauseAll();
    },
  };
}

/** `complete` answers `location` = `<origin>/api/files/<fileId>`, which @uppy/aws-s3 passes on. */
function fileIdFromLocation(location: string): string | undefined {
  return /\/api\/files\/([^/?#]+)$/.exec(location)?.[1];
}

/**
 * The completing PATCH carries no file id only while the files service is away; a HEAD
 * registers the file once it is back and then answers the id.
 */
async function fileIdLater(api: Api, uploadUrl: string): Promise<string | undefined> {
  for (const wait of [1000, 2000, 4000, 8000, 16000]) {
    await new Promise((resolve) => setTimeout(resolve, wait));
    const answer = await api.http.send('HEAD', new URL(uploadUrl).pathname, { headers: { 'Tus-Resumable': '1.0.0' } }).catch(() => undefined);
    const fileId = answer?.headers.get('GoVault-File-Id');
    if (fileId) return fileId;
  }
  return undefined;
}

/**
 * The same file picked again (after a reload, or while Golden Retriever shows it) continues
 * its upload: a ghost gets its data back, an idle or failed copy hands over its tus URL or
 * multipart ids. Only a file that is uploading right now is "already in the list".
 */
function resumeOnReAdd(uppy: Uppy<Meta, Body>, mode: UploadMode, file: GovaultFile, files: Record<string, GovaultFile>): GovaultFile | boolean {
  if (mode === 'direct' && file.size === 0) {
    uppy.info(EMPTY_FILE_DIRECT, 'error', 6000);
    return false;
  }
  const added: GovaultFile = mode === 'direct' ? { ...file, meta: { ...file.meta, [SIZE_META]: String(file.size ?? '') } } : file;
  const existing = files[file.id];
  if (!existing) return added;
  if (existing.isGhost) return notStarted(added);
  if (existing.progress.uploadComplete) return added;
  const uploading = Object.values(uppy.getState().currentUploads).some((upload) => upload.fileIDs.includes(file.id));
  if (uploading && !existing.error) return false;
  return notStarted({ ...added, tus: existing.tus, s3Multipart: existing.s3Multipart } as GovaultFile);
}

/** Upload() takes only files that have not started: a resumed file starts again (from the server's offset). */
function notStarted(file: GovaultFile): GovaultFile {
  return { ...file, error: undefined, isPaused: false, progress: { ...file.progress, uploadStarted: null } } as GovaultFile;
}

/**
 * Golden Retriever restored the last session. Its own restore replays the old upload
 * batches, which skip a file picked again; instead, every unfinished file becomes a file
 * to upload (resuming from its tus URL or multipart ids), and those whose bytes were
 * kept go at once. Ghosts (too big to keep) wait to be picked again, and Dashboard's
 * "Session restored" note asks for them.
 */
function resumeRestored(uppy: Uppy<Meta, Body>): void {
  const files = { ...uppy.getState().files };
  let ghosts = false;
  let ready = false;
  for (const [id, file] of Object.entries(files)) {
    if (file.progress.uploadComplete) continue;
    if (file.isGhost) {
      ghosts = true;
      // Started, so that no upload() takes a file without data.
      files[id] = { ...file, error: undefined, isPaused: false, progress: { ...file.progress, uploadStarted: file.progress.uploadStarted ?? Date.now() } } as GovaultFile;
    } else {
      ready = true;
      files[id] = notStarted(file);
    }
  }
  uppy.setState({ files, currentUploads: {}, ...(ghosts ? {} : { recoveredState: null }) });
  if (ready) uppy.upload().catch(() => undefined);
}

/**
 * Before an upload starts: a file with no upload of its own yet that matches one of the
 * caller's unfinished uploads (same mode, name and size) continues that one, from any
 * device; direct multipart ids the server no longer knows are dropped (a new upload).
 */
async function claimUnfinished(api: Api, uppy: Uppy<Meta, Body>, mode: UploadMode, fileIDs: string[]): Promise<void> {
  const files = uppy.getFilesByIds(fileIDs).filter((file) => !file.isGhost && !file.progress.uploadComplete);
  if (files.length === 0) return;
  const unfinished = await api.uploads.unfinished().then(
    ({ items }) => items.filter((item) => item.mode === mode),
    () => undefined,
  );
  if (!unfinished) return;
  const claimed = new Set(uppy.getFiles().map((file) => claimOf(file)).filter(Boolean));
  for (const file of files) {
    if (mode === 'direct' && file.s3Multipart) {
      if (unfinished.some((item) => item.uploadId === file.s3Multipart!.uploadId)) continue;
      uppy.setFileState(file.id, { s3Multipart: undefined });
    }
    if (mode === 'tus' && (file.tus?.uploadUrl || hasTusFingerprint(file))) continue;
    const match = mostAdvanced(unfinished.filter((item) => item.name === file.name && item.size === file.size && !claimed.has(item.id)));
    if (!match) continue;
    claimed.add(match.id);
    if (mode === 'tus') uppy.setFileState(file.id, { tus: { ...file.tus, uploadUrl: tusUploadUrl(match.id) } });
    else if (match.uploadId && match.key) uppy.setFileState(file.id, { s3Multipart: { uploadId: match.uploadId, key: match.key } });
  }
}

function claimOf(file: GovaultFile): string | undefined {
  if (file.s3Multipart) return file.s3Multipart.uploadId;
  const url = file.tus?.uploadUrl;
  return url ? decodeURIComponent(url.split('/').pop() ?? '') : undefined;
}

function mostAdvanced(candidates: UnfinishedUpload[]): UnfinishedUpload | undefined {
  return candidates.reduce<UnfinishedUpload | undefined>((best, item) => (!best || item.offset > best.offset ? item : best), undefined);
}

/** tus-js-client keeps `tus::<fingerprint>::<n>` in localStorage; Uppy's fingerprint is `tus-<file id>-<endpoint>`. */
function hasTusFingerprint(file: GovaultFile): boolean {
  const prefix = `tus::tus-${file.id}-`;
  for (let i = 0; i < localStorage.length; i++) if (localStorage.key(i)?.startsWith(prefix)) return true;
  return false;
}

/** Forgets what this browser keeps of an uploader's files (Golden Retriever's store, tus fingerprints): after logout. */
export function forgetLocalState(uploader: Uploader): void {
  const { uppy } = uploader;
  uploader.pause();
  for (const plugin of [uppy.getPlugin('Tus'), uppy.getPlugin('AwsS3')]) if (plugin) uppy.removePlugin(plugin);
  uppy.removeFiles(Object.keys(uppy.getState().files));
  const prefix = `tus::tus-${uppy.getID()}-`;
  for (let i = localStorage.length - 1; i >= 0; i--) if (localStorage.key(i)?.startsWith(prefix)) localStorage.removeItem(localStorage.key(i)!);
}
