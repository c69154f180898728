import type { Part } from '@aws-sdk/client-s3';
import type { MetadataValue } from '@tus/s3-store';
import type { LockHolder } from '../tus/lock-scope.ts';

/**
 * What the S3 store has learnt of one upload while this process holds its tus lock:
 * nothing else can change the upload meanwhile, so one request asks S3 once (a HEAD's or
 * PATCH's first look) and the rest of the request reads this, kept up to date by the
 * store's own writes. Each field is unknown (undefined) until asked, and goes back to
 * unknown whenever a request to S3 that would change it fails or is under way.
 */
export interface LockedView {
  /** The upload's info (`<id>.info`, or its row in the cache). */
  metadata?: MetadataValue;
  /** The multipart upload's parts by number, as ListParts would answer. */
  parts?: Map<number, Part>;
  /** The size of the incomplete part (`<id>.part`); null when there is none. */
  incompletePartSize?: number | null;
}

/** One view per upload whose lock this process holds; none for any other upload. */
export class LockedViews implements LockHolder {
  private readonly views = new Map<string, LockedView>();

  held(uploadId: string): void {
    this.views.set(uploadId, {});
  }

  released(uploadId: string): void {
    this.views.delete(uploadId);
  }

  /** Back to knowing nothing (still held): after a change to the upload that the view does not follow. */
  forget(uploadId: string): void {
    if (this.views.has(uploadId)) this.views.set(uploadId, {});
  }

  /** The view of an upload whose lock is held here, or nothing (every answer then comes from S3). */
  of(uploadId: string): LockedView | undefined {
    return this.views.get(uploadId);
  }
}
