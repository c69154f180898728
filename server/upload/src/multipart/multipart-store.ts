import type { Readable } from 'node:stream';
import type { StoredPart } from './part-list.ts';

/** Which multipart upload in the store: our upload id, the object key, the store's own id. */
export interface MultipartTarget {
  uploadId: string;
  key: string;
  storeUploadId: string;
}

/**
 * Where the parts of a direct upload go: S3 itself, or (embedded mode) a folder of part
 * files the upload service receives through its own signed URLs.
 */
export interface MultipartStore {
  /** Starts a multipart upload for `key`; answers the store's upload id. */
  create(uploadId: string, key: string, contentType: string): Promise<string>;
  /** A URL the client PUTs one part's bytes to, without credentials of its own. */
  partUrl(target: MultipartTarget, partNumber: number, origin: string): Promise<string>;
  /** Every part the store holds, in part-number order; undefined when the upload is gone. */
  listParts(target: MultipartTarget): Promise<StoredPart[] | undefined>;
  /** Joins `parts` into the object at `key`; answers the object's size. */
  complete(target: MultipartTarget, parts: StoredPart[]): Promise<number>;
  /** Drops the upload and its parts (a no-op when already gone). */
  abort(target: MultipartTarget): Promise<void>;
  /** Removes a completed object that failed its checks. */
  discardObject(key: string): Promise<void>;
}

/** Embedded mode only: the store that receives part bodies itself. */
export interface PartSink {
  /** Stores one part's body; undefined when the upload has no part folder (unknown or aborted). */
  writePart(uploadId: string, partNumber: number, body: Readable, maxBytes: number): Promise<StoredPart | undefined>;
}
