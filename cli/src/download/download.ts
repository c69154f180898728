import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { answerError } from '../api/http.ts';
import { retryDelayMs, sleep, type RetryPolicy } from '../api/retry.ts';
import type { FileItem, GovaultApi } from '../api/govault-api.ts';
import { CliError } from '../errors.ts';
import type { Reporter } from '../output/events.ts';

/**
 * Downloads a file into `PATH.part`, continuing a partial one with `Range`, and renames
 * it to PATH once its size (and the SHA-256 declared at upload, when there is one) match.
 * A link that breaks mid-body is taken up again from the bytes already written.
 */
export async function download(api: GovaultApi, file: FileItem, target: string, reporter: Reporter, retry: RetryPolicy): Promise<{ resumed: boolean; sent: number }> {
  const partial = `${target}.part`;
  let have = (await stat(partial).catch(() => undefined))?.size ?? 0;
  if (have > file.size) {
    await truncate(partial, 0);
    have = 0;
  }
  // An empty file takes no request, but still needs its PATH.part to check and rename.
  if (have === 0) await writeFile(partial, '', { flag: 'a' });
  const first = have;
  reporter.emit({ event: 'start', path: target, name: file.name, size: file.size, mode: 'download', resumed: have > 0, offset: have });
  let best = have;
  for (let attempt = 0; have < file.size; attempt++) {
    try {
      have = await fetchFrom(api, file, partial, have, (bytes) => reporter.emit({ event: 'progress', path: target, bytes, size: file.size }));
    } catch (err) {
      if (err instanceof CliError) throw err;
      have = (await stat(partial).catch(() => undefined))?.size ?? 0;
      if (have > best) [best, attempt] = [have, 0];
      if (attempt >= retry.retries) throw new CliError(`The download broke off ${attempt + 1} times (${(err as Error).message}); run the command again to continue it.`);
      await sleep(retryDelayMs(retry, attempt));
    }
  }
  await verify(file, partial);
  await rename(partial, target);
  return { resumed: first > 0, sent: file.size - first };
}

/** One request from byte `from`; returns the size of the partial file afterwards. */
async function fetchFrom(api: GovaultApi, file: FileItem, partial: string, from: number, progress: (bytes: number) => void): Promise<number> {
  const session = api.session;
  const path = `/api/files/${encodeURIComponent(file.id)}/content`;
  // The answer may be a redirect to storage: fetch follows it, and drops Authorization when it leaves the server's origin.
  const response = await session.http.send('GET', session.http.url(path), {
    headers: { authorization: await session.authorization(), ...(from > 0 ? { range: `bytes=${from}-` } : {}) },
  });
  if (response.status === 416 && from === file.size) return from;
  if (response.status !== 200 && response.status !== 206) {
    const body = await response.json().catch(() => undefined);
    throw answerError(response.status, body as never, 'GET', path);
  }
  // 200 is the whole file: a server that ignored the range.
  const start = response.status === 206 ? from : 0;
  if (start === 0 && from > 0) await truncate(partial, 0);
  let written = start;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      written += chunk.length;
      progress(written);
      done(null, chunk);
    },
  });
  await pipeline(Readable.fromWeb(response.body as WebReadableStream), counter, createWriteStream(partial, { flags: start === 0 ? 'w' : 'a' }));
  return written;
}

async function verify(file: FileItem, partial: string): Promise<void> {
  const size = (await stat(partial)).size;
  if (size !== file.size) throw new CliError(`The download has ${size} bytes, the file ${file.size}; run the command again.`);
  const declared = /^sha256:([0-9a-f]{64})$/.exec(file.checksum ?? '')?.[1];
  if (!declared) return;
  const hash = createHash('sha256');
  await pipeline(createReadStream(partial), hash);
  if (hash.digest('hex') !== declared) {
    await rm(partial, { force: true });
    throw new CliError(`The downloaded bytes do not match the file's SHA-256 (${declared}); the partial download was removed, run the command again.`);
  }
}
