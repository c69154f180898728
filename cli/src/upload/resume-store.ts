import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readJson, removeFile, writePrivateJson, writePrivateJsonSync } from '../config/private-file.ts';
import type { Fingerprint } from './local-file.ts';

/** Where the upload of one local file stands, kept between runs. */
export interface ResumeEntry {
  server: string;
  path: string;
  fingerprint: Fingerprint;
  /** The file's SHA-256 (hex), computed once when the upload began. */
  sha256: string;
  mode: 'tus' | 'direct';
  /** tus: the upload URL the server gave (its `Location`). */
  tusUrl?: string;
  /** direct: the Companion upload id and key, and the part size the parts were cut with. */
  multipart?: { uploadId: string; key: string; partSize: number };
  startedAt: string;
  /** Set once the upload became a file: an unchanged file is not uploaded again while that file exists. */
  fileId?: string;
}

/**
 * One small file per (server, local path) under the state directory, so that parallel
 * uploads and several govault processes never rewrite each other's entries.
 */
export class ResumeStore {
  private readonly dir: string;

  constructor(stateDir: string) {
    this.dir = join(stateDir, 'uploads');
  }

  get(server: string, path: string): Promise<ResumeEntry | undefined> {
    return readJson<ResumeEntry>(this.fileOf(server, path));
  }

  save(entry: ResumeEntry): Promise<void> {
    return writePrivateJson(this.fileOf(entry.server, entry.path), entry);
  }

  /** Saves before returning, for a callback that cannot be awaited (tus-js-client's onUploadUrlAvailable). */
  saveNow(entry: ResumeEntry): void {
    writePrivateJsonSync(this.fileOf(entry.server, entry.path), entry);
  }

  forget(server: string, path: string): Promise<void> {
    return removeFile(this.fileOf(server, path));
  }

  /** Every entry for `server`: the local side of `govault uploads`. */
  async all(server: string): Promise<ResumeEntry[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const entries = await Promise.all(names.filter((n) => n.endsWith('.json')).map((n) => readJson<ResumeEntry>(join(this.dir, n))));
    return entries.filter((e): e is ResumeEntry => e?.server === server);
  }

  private fileOf(server: string, path: string): string {
    return join(this.dir, `${createHash('sha256').update(`${server}\n${path}`).digest('hex').slice(0, 32)}.json`);
  }
}
