import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';

/** One file of the built app, held in memory with its compressed forms. */
export interface WebAppFile {
  /** The extension, for Koa's content type (`.js` → `application/javascript; charset=utf-8`). */
  type: string;
  /** A hash of the bytes, for the ETag of each form. */
  hash: string;
  body: Buffer;
  gzip?: Buffer;
  br?: Buffer;
}

export interface WebAppSnapshot {
  /** URL path (`/assets/index-abc.js`) → file. Only these paths are ever served. */
  files: Map<string, WebAppFile>;
  index: WebAppFile;
  /** index.html's identity when loaded: a changed one means a new build. */
  indexStamp: string;
}

/** A folder that is surely not a web app build (WEB_APP_DIR=/, say): stop before reading it all. */
const MAX_FILES = 2_000;
const MAX_BYTES = 64 * 1024 * 1024;
const COMPRESSIBLE = new Set(['.html', '.js', '.mjs', '.css', '.json', '.map', '.svg', '.txt', '.xml', '.webmanifest', '.wasm', '.ico']);

const gzipAsync = promisify(gzip);
const brotliAsync = promisify(brotliCompress);

export class WebAppTooLarge extends Error {}

/**
 * Reads the whole build into memory, once. A request path is then looked up in a Map,
 * never joined to a file-system path, so no spelling of `..` (encoded, backslashed, with
 * NUL) can reach a file outside the folder; symbolic links and dot-files are skipped.
 * Compressing here, once, costs the gateway no CPU per request.
 * Undefined when the folder holds no index.html (not built).
 */
export async function loadWebApp(dir: string): Promise<WebAppSnapshot | undefined> {
  const indexStamp = await stampOf(join(dir, 'index.html'));
  if (!indexStamp) return undefined;
  const paths = await listFiles(dir);
  const files = new Map<string, WebAppFile>();
  let bytes = 0;
  for (const path of paths) {
    const body = await readFile(join(dir, ...path.split('/')));
    bytes += body.length;
    if (bytes > MAX_BYTES) throw new WebAppTooLarge(`${dir} holds more than ${MAX_BYTES / 1024 / 1024} MiB: not a web app build`);
    files.set(`/${path}`, await prepare(path, body));
  }
  const index = files.get('/index.html');
  return index ? { files, index, indexStamp } : undefined;
}

/** Identity of a file (inode, size, mtime), or undefined when it is missing. */
export async function stampOf(path: string): Promise<string | undefined> {
  try {
    const s = await stat(path);
    return s.isFile() ? `${s.ino}:${s.size}:${s.mtimeMs}` : undefined;
  } catch {
    return undefined;
  }
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    // A Dirent of a symbolic link is neither a file nor a folder: links are never followed.
    if (entry.isDirectory()) found.push(...(await listFiles(dir, path)));
    else if (entry.isFile()) found.push(path);
    if (found.length > MAX_FILES) throw new WebAppTooLarge(`${dir} holds more than ${MAX_FILES} files: not a web app build`);
  }
  return found;
}

async function prepare(path: string, body: Buffer): Promise<WebAppFile> {
  const type = extname(path) || '.bin';
  const hash = createHash('sha256').update(body).digest('base64url').slice(0, 22);
  const file: WebAppFile = { type, hash, body };
  if (!COMPRESSIBLE.has(type.toLowerCase())) return file;
  const [gz, br] = await Promise.all([
    gzipAsync(body, { level: 9 }),
    brotliAsync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: body.length } }),
  ]);
  // A compressed form only where it saves bytes (a 60-byte CSS file grows under gzip).
  if (gz.length < body.length) file.gzip = gz;
  if (br.length < body.length) file.br = br;
  return file;
}
