import type { Session } from '../api/session.ts';
import type { ResumeEntry, ResumeStore } from './resume-store.ts';

/** One local file on its way to the server. */
export interface UploadItem {
  /** Absolute path on disk. */
  path: string;
  /** The path as the user will recognise it (relative to what they named). */
  shownPath: string;
  /** The file's name on the server: its basename (the file model has no folders). */
  name: string;
  /** Its path below the directory that was named, for `relativePath` metadata; null for a file named directly. */
  relativePath: string | null;
  contentType: string;
}

export interface TransferContext {
  session: Session;
  item: UploadItem;
  entry: ResumeEntry;
  store: ResumeStore;
  chunkSize: number;
  checksum: boolean;
  visibility: 'private' | 'public';
  /** Called once per attempt, when the server has said how many bytes it already holds. */
  onStart(offset: number): void;
  /** Bytes the server holds of this file so far. */
  onProgress(bytes: number): void;
}

export interface TransferResult {
  fileId: string;
}

/**
 * One attempt at moving a file with one protocol: resumes from the entry's saved upload
 * when it has one, and saves a new one as soon as the server made it.
 */
export type Transfer = (context: TransferContext) => Promise<TransferResult>;

/** The server no longer has the saved upload (expired, terminated, finished elsewhere): start again. */
export class UploadGone extends Error {}

/** The metadata both protocols send. `checksum` is declared so that downloads can be checked end to end. */
export function uploadMetadata(context: TransferContext): Record<string, string> {
  const { item, entry } = context;
  return {
    filename: item.name,
    filetype: item.contentType,
    checksum: `sha256:${entry.sha256}`,
    ...(item.relativePath ? { relativePath: item.relativePath } : {}),
  };
}
