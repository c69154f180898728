import { createReadStream } from 'node:fs';
import { mkdir, stat, unlink } from 'node:fs/promises';
import { relative, resolve, sep } from 'node:path';
import { isSafeStorageKey, type ByteRange, type ObjectContent, type ObjectStorage } from './object-storage.ts';

/** Embedded mode: objects are files under one folder, where @tus/file-store writes them. */
export class DiskObjectStorage implements ObjectStorage {
  private readonly root: string;
  private made = false;

  constructor(root: string) {
    this.root = resolve(root);
  }

  async content(key: string): Promise<ObjectContent | undefined> {
    const path = this.pathOf(key);
    const stats = await stat(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined;
      throw err;
    });
    if (!stats?.isFile()) return undefined;
    return {
      kind: 'local',
      size: stats.size,
      read: (range?: ByteRange) => createReadStream(path, range ? { start: range.start, end: range.end } : {}),
    };
  }

  /**
   * Removes the object and its sidecar. A missing file is already gone, but only while the
   * folder is there: with the folder away (a volume not mounted) the delete fails, and its
   * retry removes the object once the folder is back, instead of forgetting it.
   */
  async delete(key: string): Promise<void> {
    const path = this.pathOf(key);
    // @tus/file-store keeps the upload's metadata in `<id>.json` beside the bytes.
    for (const file of [path, `${path}.json`]) {
      await unlink(file).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    }
    await this.assertFolder();
  }

  /**
   * Readiness. The first check makes the folder (a fresh DATA_DIR); after that a missing
   * folder is a volume gone away, and is not ready, rather than an empty folder made anew.
   */
  async check(): Promise<void> {
    if (!this.made) {
      await mkdir(this.root, { recursive: true });
      this.made = true;
    }
    await this.assertFolder();
  }

  private async assertFolder(): Promise<void> {
    const stats = await stat(this.root).catch(() => undefined);
    if (!stats?.isDirectory()) throw new Error(`the storage folder ${this.root} is not there`);
  }

  private pathOf(key: string): string {
    const path = resolve(this.root, key);
    const inside = relative(this.root, path);
    if (!isSafeStorageKey(key) || inside === '' || inside.startsWith(`..${sep}`) || inside === '..') {
      throw new Error(`unsafe storage key: ${JSON.stringify(key)}`);
    }
    return path;
  }
}
