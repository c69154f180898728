import { payloadTooLarge, validationFailed } from '@govault/lib';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

/** S3's multipart limits (AWS documents them; every S3-compatible store follows them). */
export const MIN_PART_SIZE = 5 * MiB;
export const MAX_PART_SIZE = 5 * GiB;
export const MAX_PARTS = 10_000;

/** A part as the store holds it. `etag` as the store gives it (S3 quotes it). */
export interface StoredPart {
  partNumber: number;
  size: number;
  etag: string;
}

/** A part as the client names it in `complete`. */
export interface ClaimedPart {
  partNumber: number;
  etag: string;
}

/** Uppy strips the quotes S3 puts around an ETag; compare the bare value. */
export const bareEtag = (etag: string) => etag.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1');

/**
 * Checks the client's part list against what the store holds and answers the stored
 * parts to complete with, in order. Every listed part must exist with the same ETag,
 * every part but the last must have S3's minimum size, and the total must fit the
 * maximum file size.
 */
export function verifyPartList(claimed: ClaimedPart[], stored: StoredPart[], maxUploadSize: number): StoredPart[] {
  if (claimed.length === 0) throw validationFailed('the part list is empty');
  if (claimed.length > MAX_PARTS) throw validationFailed(`an upload has at most ${MAX_PARTS} parts`);
  const byNumber = new Map(stored.map((part) => [part.partNumber, part]));
  const ordered = [...claimed].sort((a, b) => a.partNumber - b.partNumber);
  const chosen: StoredPart[] = [];
  for (const [index, part] of ordered.entries()) {
    if (index > 0 && ordered[index - 1]!.partNumber === part.partNumber) {
      throw validationFailed(`part ${part.partNumber} is listed twice`);
    }
    const held = byNumber.get(part.partNumber);
    if (!held) throw validationFailed(`part ${part.partNumber} has not been uploaded`);
    if (bareEtag(held.etag) !== bareEtag(part.etag)) {
      throw validationFailed(`part ${part.partNumber}: the ETag does not match the uploaded part`);
    }
    const last = index === ordered.length - 1;
    if (!last && held.size < MIN_PART_SIZE) {
      throw validationFailed(
        `part ${part.partNumber} has ${held.size} bytes; every part but the last must have at least ${MIN_PART_SIZE} bytes (5 MiB)`,
      );
    }
    chosen.push(held);
  }
  const total = chosen.reduce((sum, part) => sum + part.size, 0);
  if (total > maxUploadSize) throw payloadTooLarge(`the parts add up to ${total} bytes; the maximum file size is ${maxUploadSize} bytes`);
  return chosen;
}

export interface PartSizeGuidance {
  /** The part size to use: every allowed file (or the announced one) fits in maxParts parts. */
  partSize: number;
  minPartSize: number;
  maxPartSize: number;
  maxParts: number;
  maxFileSize: number;
}

/** The smallest whole-MiB part size, at least 5 MiB, that fits `size` bytes in 10,000 parts. */
export function partSizeGuidance(maxUploadSize: number, size?: number): PartSizeGuidance {
  const fit = Math.ceil((size ?? maxUploadSize) / MAX_PARTS / MiB) * MiB;
  return {
    partSize: Math.min(MAX_PART_SIZE, Math.max(MIN_PART_SIZE, fit)),
    minPartSize: MIN_PART_SIZE,
    maxPartSize: MAX_PART_SIZE,
    maxParts: MAX_PARTS,
    maxFileSize: maxUploadSize,
  };
}
