import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface LocalFile {
  path: string;
  name: string;
  size: number;
  sha256: string;
}

/**
 * Files on the test machine's disk, as a person would pick them: real paths, so that the
 * browser sees a stable name, size and modification time (Uppy's and tus-js-client's
 * fingerprints of "the same file" are made of those).
 */
export class LocalFiles {
  private readonly dir = mkdtempSync(join(tmpdir(), 'govault-browser-files-'));

  /** Random (incompressible) bytes under `name`. */
  make(name: string, size: number): LocalFile {
    const bytes = randomBytes(size);
    // A folder per file: the browser names a picked file by its basename.
    const folder = join(this.dir, randomBytes(4).toString('hex'));
    mkdirSync(folder);
    const path = join(folder, name);
    writeFileSync(path, bytes);
    return { path, name, size, sha256: sha256(bytes) };
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
