import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { CliError } from '../errors.ts';

const MiB = 1024 * 1024;

/** What makes a file "the same" between two runs: path, size, mtime, and a hash of its first MiB. */
export interface Fingerprint {
  size: number;
  mtimeMs: number;
  headSha256: string;
}

export async function fingerprintOf(path: string): Promise<Fingerprint> {
  const info = await stat(path);
  const head = await readRange(path, 0, Math.min(info.size, MiB));
  return { size: info.size, mtimeMs: info.mtimeMs, headSha256: createHash('sha256').update(head).digest('hex') };
}

export const sameFingerprint = (a: Fingerprint, b: Fingerprint) => a.size === b.size && a.mtimeMs === b.mtimeMs && a.headSha256 === b.headSha256;

/** The whole file's SHA-256, hex: declared to the server and checked by `govault download`. */
export function sha256Of(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/** Bytes [start, end) of the file, read whole into memory (one chunk or part at a time). */
export async function readRange(path: string, start: number, end: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(end - start);
    let filled = 0;
    while (filled < buffer.length) {
      const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, start + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    if (filled < buffer.length) throw changedWhileUploading(path);
    return buffer;
  } finally {
    await handle.close();
  }
}

export const changedWhileUploading = (path: string) =>
  new CliError(`${path} changed while it was being uploaded. Run the command again once the file is complete; it will start that file over.`);

/** Throws when the file is no longer the one whose upload began (size or mtime moved). */
export async function assertUnchanged(path: string, fingerprint: Fingerprint): Promise<void> {
  const info = await stat(path).catch(() => undefined);
  if (!info || info.size !== fingerprint.size || info.mtimeMs !== fingerprint.mtimeMs) throw changedWhileUploading(path);
}
