import SparkMD5 from 'spark-md5';
import type { Api } from '../api/client.ts';
import { ApiError, plainMessage } from '../api/errors.ts';

/**
 * @uppy/aws-s3 6 talks to Companion's routes with the global fetch and no way to add a
 * header, and it has no function options any more. So its `companionEndpoint` is this
 * made-up scheme, and a fetch wrapper sends those calls (and only those) through the
 * app's Http: the access token, one renewal after a 401, plain error messages. Part PUTs
 * go by XHR to the signed URLs and never pass here.
 */
export const COMPANION_ENDPOINT = 'govault-companion:';
const PREFIX = `${COMPANION_ENDPOINT}/s3/multipart`;

/** Meta field that carries the file's size to the create call (Uppy's body has none); never stored. */
export const SIZE_META = 'govaultSize';

/** Uppy shows its own prefix before our message; the message alone says it. */
export const COMPANION_ERROR_PREFIX = 'Companion request failed: ';

const COMPLETE_RETRIES = [1000, 2000, 4000, 8000];

let installed = false;

/** The bytes of a direct upload in progress and the size of its parts, by upload id. */
export type PartSource = (uploadId: string) => { data: Blob; partSize: number } | undefined;
const partSources = new Set<PartSource>();

/** Lets list-parts answers for this uploader's uploads be checked against the file's bytes. */
export function addPartSource(source: PartSource): () => void {
  partSources.add(source);
  return () => partSources.delete(source);
}

export function installCompanionFetch(api: Api): void {
  if (installed) return;
  installed = true;
  const originalFetch = globalThis.fetch.bind(globalThis);
  globalThis.fetch = (input, init) => {
    if (typeof input !== 'string' || !input.startsWith(PREFIX)) return originalFetch(input, init);
    return companionCall(api, init?.method ?? 'GET', input.slice(PREFIX.length), init?.body);
  };
}

async function companionCall(api: Api, method: string, pathAndQuery: string, rawBody: unknown): Promise<Response> {
  try {
    const body = typeof rawBody === 'string' ? (JSON.parse(rawBody) as Record<string, unknown>) : undefined;
    if (method === 'POST' && pathAndQuery === '') return await api.uploads.companion(method, pathAndQuery, withSize(body ?? {}));
    if (method === 'POST' && pathAndQuery.includes('/complete?')) return await completeWithFileId(api, pathAndQuery, body);
    const listed = method === 'GET' && /^\/([^/?]+)\?/.exec(pathAndQuery);
    if (listed) return await verifiedPartList(api, pathAndQuery, decodeURIComponent(listed[1]!));
    return await api.uploads.companion(method, pathAndQuery, body);
  } catch (error) {
    const status = error instanceof ApiError ? error.status : 503;
    return new Response(JSON.stringify({ error: { message: plainMessage(error) } }), {
      status: status >= 200 && status <= 599 ? status : 503,
      statusText: plainMessage(error).replace(/[^\t\x20-\x7e]/g, ' '),
      headers: { 'Content-Type': 'application/json' },
    });
  }
}

/** Moves the size from the metadata to the body, so that the server refuses an oversize file before any part. */
function withSize(body: Record<string, unknown>): Record<string, unknown> {
  const { [SIZE_META]: size, ...metadata } = (body.metadata ?? {}) as Record<string, unknown>;
  const bytes = Number(size);
  return { ...body, metadata, ...(Number.isSafeInteger(bytes) && bytes >= 0 ? { size: bytes } : {}) };
}

/**
 * `complete` answers without `fileId` only while the files service is away; it is
 * idempotent, so ask again for a while, and the uploader learns the file it became.
 */
async function completeWithFileId(api: Api, pathAndQuery: string, body: unknown): Promise<Response> {
  let answer = (await (await api.uploads.companion('POST', pathAndQuery, body)).json()) as { fileId?: string };
  for (const wait of COMPLETE_RETRIES) {
    if (answer.fileId) break;
    await new Promise((resolve) => setTimeout(resolve, wait));
    answer = (await (await api.uploads.companion('POST', pathAndQuery, body)).json()) as { fileId?: string };
  }
  return new Response(JSON.stringify(answer), { status: 200, headers: { 'Content-Type': 'application/json' } });
}

interface ListedPart {
  PartNumber: number | string;
  Size: number | string;
  ETag: string;
}

/**
 * Uppy trusts list-parts and skips every part it names. A part whose PUT was cut by a
 * reload must not be named: S3 never keeps one, but some S3 servers do (versitygw 1.7
 * lists a cut part at its full size, with the bytes it did not get as zeros), and the
 * file would be completed corrupt. So a listed part counts only when its size is the
 * slice's and its ETag (an MD5 for unencrypted single parts) is the slice's MD5; the others
 * are sent again. Costs one read of the stored part of the file, on resume only.
 */
async function verifiedPartList(api: Api, pathAndQuery: string, uploadId: string): Promise<Response> {
  const parts = (await (await api.uploads.companion('GET', pathAndQuery)).json()) as ListedPart[];
  const source = [...partSources].map((find) => find(uploadId)).find(Boolean);
  const kept = source ? await partsMatching(parts, source.data, source.partSize) : parts;
  return new Response(JSON.stringify(kept), { status: 200, headers: { 'Content-Type': 'application/json' } });
}

async function partsMatching(parts: ListedPart[], data: Blob, partSize: number): Promise<ListedPart[]> {
  const kept: ListedPart[] = [];
  for (const part of parts) {
    const start = (Number(part.PartNumber) - 1) * partSize;
    const slice = data.slice(start, Math.min(start + partSize, data.size));
    if (start < 0 || Number(part.Size) !== slice.size) continue;
    const etag = String(part.ETag).replace(/"/g, '').toLowerCase();
    if (/^[0-9a-f]{32}$/.test(etag) && SparkMD5.ArrayBuffer.hash(await slice.arrayBuffer()) !== etag) continue;
    kept.push(part);
  }
  return kept;
}
