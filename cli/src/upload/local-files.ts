import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join, relative, resolve } from 'node:path';
import { usageError } from '../errors.ts';
import type { UploadItem } from './transfer.ts';

/**
 * The files that PATH... names: files as they are, directories (with `recursive`) walked
 * in name order, each file named by its basename with its path below the directory kept
 * as `relativePath`. Anything missing or unreadable is a usage error before any upload begins.
 */
export async function localFiles(paths: string[], recursive: boolean): Promise<UploadItem[]> {
  const items: UploadItem[] = [];
  for (const given of paths) {
    const absolute = resolve(given);
    const info = await stat(absolute).catch(() => undefined);
    if (!info) throw usageError(`${given}: no such file or directory.`);
    if (info.isFile()) items.push(item(absolute, given, null));
    else if (info.isDirectory()) {
      if (!recursive) throw usageError(`${given} is a directory; add --recursive to upload what is in it.`);
      for (const file of await walk(absolute)) {
        const below = relative(absolute, file);
        items.push(item(file, join(given, below), join(basename(absolute), below)));
      }
    } else throw usageError(`${given} is neither a file nor a directory.`);
  }
  return items;
}

async function walk(dir: string): Promise<string[]> {
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
  const files: string[] = [];
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await walk(path)));
    else if (entry.isFile()) files.push(path);
  }
  return files;
}

const item = (path: string, shownPath: string, relativePath: string | null): UploadItem => ({
  path,
  shownPath,
  name: basename(path),
  relativePath,
  contentType: contentTypeOf(path),
});

const TYPES: Record<string, string> = {
  '.txt': 'text/plain', '.md': 'text/markdown', '.csv': 'text/csv', '.json': 'application/json', '.pdf': 'application/pdf',
  '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.gif': 'image/gif', '.webp': 'image/webp', '.svg': 'image/svg+xml',
  '.mp4': 'video/mp4', '.mov': 'video/quicktime', '.mp3': 'audio/mpeg', '.zip': 'application/zip', '.gz': 'application/gzip',
  '.tar': 'application/x-tar', '.html': 'text/html',
};

export const contentTypeOf = (path: string) => TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
