import type { Readable } from 'node:stream';

/** What a download carries besides the bytes: the name and type the client should see. */
export interface DownloadOptions {
  filename: string;
  contentType: string;
}

export interface ByteRange {
  /** Inclusive, like HTTP's `bytes=start-end`. */
  start: number;
  end: number;
}

/**
 * How a client gets an object's bytes: a short-lived URL to follow (S3), or the bytes
 * served by this service (embedded mode).
 */
export type ObjectContent =
  | { kind: 'redirect'; url: string }
  | { kind: 'local'; size: number; read(range?: ByteRange): Readable };

export interface ObjectStorage {
  /** Resolves to undefined when there is no object under the key. */
  content(key: string, download: DownloadOptions): Promise<ObjectContent | undefined>;
  /**
   * Removes the object and whatever the upload service's tus store keeps beside it
   * (`<key>.info` in S3, `<key>.json` on disk). An object that is already gone is not an
   * error, so a retried delete succeeds.
   */
  delete(key: string): Promise<void>;
  /** Readiness: throws when the store cannot be reached. */
  check(): Promise<void>;
}

/**
 * Keys are what the upload service stored objects under (a tus upload id, or a
 * multipart key): letters, digits, `-`, `_`, `.`, `/` and never a `..` segment or an
 * absolute path, so a key cannot point outside the store.
 */
const KEY = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/;

export function isSafeStorageKey(key: string): boolean {
  return key.length <= 1024 && KEY.test(key) && !key.split('/').some((segment) => segment === '..' || segment === '.');
}
