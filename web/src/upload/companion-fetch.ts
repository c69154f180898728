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
