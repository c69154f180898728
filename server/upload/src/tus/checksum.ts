import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** The tus checksum extension's algorithms (`Tus-Checksum-Algorithm`). */
export const CHECKSUM_ALGORITHMS = ['sha1', 'md5', 'sha256'] as const;
type Algorithm = (typeof CHECKSUM_ALGORITHMS)[number];

export interface ExpectedChecksum {
  algorithm: Algorithm;
  digest: Buffer;
}

/**
 * `Upload-Checksum: <algorithm> <base64 digest>`. Undefined when the header is malformed
 * or names an algorithm we do not offer: "If the hash algorithm is not supported by the
 * Server, it MUST respond with the 400 Bad Request status." A digest of the wrong length
 * is well-formed: it is a checksum that cannot match, so the body is a mismatch (460).
 */
export function parseChecksumHeader(value: string): ExpectedChecksum | undefined {
  const match = /^([a-z0-9-]+) ([A-Za-z0-9+/]+={0,2})$/.exec(value.trim());
  if (!match) return undefined;
  const algorithm = match[1] as Algorithm;
  if (!CHECKSUM_ALGORITHMS.includes(algorithm)) return undefined;
  return { algorithm, digest: Buffer.from(match[2]!, 'base64') };
}

export class BodyTooLarge extends Error {}

export interface SpooledBody {
  path: string;
  size: number;
  matches: boolean;
  discard(): Promise<void>;
}

/**
 * Reads a request body into a spool file while hashing it. The stores write bytes as they
 * arrive, so a body is verified before any of it reaches the store: a mismatch leaves the
 * upload exactly as it was. Bounded by `maxBytes`, on disk, so memory stays flat.
 */
export async function spoolAndHash(body: Readable, expected: ExpectedChecksum, dir: string, maxBytes: number): Promise<SpooledBody> {
  const path = join(dir, `govault-checksum-${randomUUID()}`);
  const hash = createHash(expected.algorithm);
  let size = 0;
  const discard = () => rm(path, { force: true });
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length;
      if (size > maxBytes) return done(new BodyTooLarge(`body exceeds ${maxBytes} bytes`));
      hash.update(chunk);
      done(null, chunk);
    },
  });
  try {
    await pipeline(body, meter, createWriteStream(path));
  } catch (err) {
    await discard();
    throw err;
  }
  return { path, size, matches: hash.digest().equals(expected.digest), discard };
}
