/**
 * The one rule for upload metadata, tus `Upload-Metadata` and multipart `metadata` alike,
 * checked before anything is created. Metadata is kept as JSON in the upload database and
 * only ever given back encoded (base64 in `Upload-Metadata`, JSON in lists), so a value
 * may hold any text PostgreSQL can store: not NUL, not a lone surrogate. Other control
 * characters stay (Uppy's `relativePath` carries the file's path, and names on disk may
 * hold them); the file's name is cleaned from it by `fileNameFrom`.
 */
export const MAX_METADATA_FIELDS = 64;
export const MAX_METADATA_KEY_LENGTH = 128;

const UNSTORABLE = /[\u0000\p{Cs}]/u;
const BAD_KEY_CHARACTER = /[\s,\u0000-\u001f\u007f-\u009f\p{Cs}]/u;

/**
 * `checksum`: the SHA-256 of the whole file as its uploader declares it ("sha256:<64 hex
 * digits>", as the govault CLI sends it). The file is registered with it, so a download
 * can be checked end to end; the server checks each chunk in transit (Upload-Checksum),
 * not the whole.
 */
const DECLARED_CHECKSUM = /^sha256:[0-9a-f]{64}$/;

/** The declared checksum of `metadata`, or null when it declares none. */
export const declaredChecksum = (metadata: Record<string, string | null>): string | null => metadata.checksum ?? null;

/** Why `metadata` cannot be accepted, or undefined when it can. */
export function metadataProblem(metadata: Record<string, string | null>): string | undefined {
  const keys = Object.keys(metadata);
  if (keys.length > MAX_METADATA_FIELDS) return `at most ${MAX_METADATA_FIELDS} metadata fields`;
  for (const key of keys) {
    if (key.length === 0 || key.length > MAX_METADATA_KEY_LENGTH) return `a metadata key must have 1 to ${MAX_METADATA_KEY_LENGTH} characters`;
    if (BAD_KEY_CHARACTER.test(key)) return `metadata key ${JSON.stringify(key)} must not contain white space, commas or control characters`;
    const value = metadata[key];
    if (typeof value === 'string' && UNSTORABLE.test(value)) return `metadata ${JSON.stringify(key)}: the value must be text without NUL characters`;
  }
  const checksum = metadata.checksum;
  if (checksum != null && !DECLARED_CHECKSUM.test(checksum)) return 'metadata "checksum" must be "sha256:" followed by 64 lower-case hex digits';
  return undefined;
}
