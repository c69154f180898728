import { createHash } from 'node:crypto';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { ListMultipartUploadsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import * as tus from 'tus-js-client';
import { createS3Client, type S3Settings } from '@govault/lib';
import type { TestUser } from './client.ts';
import type { Mode } from './system.ts';

/**
 * What GoVault's object store holds, read the way an operator would: the data folder
 * (embedded mode) or a listing of the bucket and its multipart uploads in flight (real
 * mode). Tests compare these listings before and after an operation.
 */
export interface StoredName {
  /** A path under the data folder, a bucket key, or `multipart-upload:<key>` for an S3 multipart upload in flight. */
  name: string;
  /** Size and a content hash (disk) or the ETag (S3): what changes when the bytes do. */
  fingerprint: string;
}

export interface StoreReader {
  list(): Promise<StoredName[]>;
  close(): void;
}

/** The S3 settings of the run (real mode): what the services were given. */
export function s3SettingsFromEnv(): S3Settings {
  const { S3_ENDPOINT, S3_BUCKET, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY } = process.env;
  if (!S3_ENDPOINT || !S3_BUCKET || !S3_ACCESS_KEY_ID || !S3_SECRET_ACCESS_KEY) throw new Error('real mode needs S3_*');
  return {
    endpoint: S3_ENDPOINT,
    publicEndpoint: S3_ENDPOINT,
    bucket: S3_BUCKET,
    region: process.env.S3_REGION ?? 'us-east-1',
    accessKeyId: S3_ACCESS_KEY_ID,
    secretAccessKey: S3_SECRET_ACCESS_KEY,
    forcePathStyle: true,
  };
}

/** `objectsDir`: the data folder the services store objects in (embedded mode). */
export function storeReader(mode: Mode, objectsDir: string): StoreReader {
  if (mode === 'embedded') return { list: () => listFolder(objectsDir), close: () => undefined };
  const settings = s3SettingsFromEnv();
  const client = createS3Client(settings);
  return { list: () => listBucket(client, settings.bucket), close: () => client.destroy() };
}

/** Every file and folder under `root`, recursively, dot-folders included. */
async function listFolder(root: string): Promise<StoredName[]> {
  const names: StoredName[] = [];
  const walk = async (dir: string) => {
    const entries = await readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [];
      throw err;
    });
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        names.push({ name: `${relative(root, path)}/`, fingerprint: 'folder' });
        await walk(path);
      } else {
        const bytes = await readFile(path).catch(() => undefined);
        const size = bytes?.length ?? (await stat(path).catch(() => undefined))?.size;
        names.push({ name: relative(root, path), fingerprint: `${size}:${bytes ? createHash('sha256').update(bytes).digest('hex') : '?'}` });
      }
    }
  };
  await walk(root);
  return names.sort((a, b) => a.name.localeCompare(b.name));
}

/** Every key in the bucket and every multipart upload in flight, page by page. */
async function listBucket(client: S3Client, bucket: string): Promise<StoredName[]> {
  const names: StoredName[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const object of page.Contents ?? []) names.push({ name: object.Key!, fingerprint: `${object.Size}:${object.ETag}` });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  do {
    const page = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }));
    for (const upload of page.Uploads ?? []) names.push({ name: `multipart-upload:${upload.Key}`, fingerprint: upload.UploadId! });
    [keyMarker, uploadIdMarker] = page.IsTruncated ? [page.NextKeyMarker, page.NextUploadIdMarker] : [undefined, undefined];
  } while (keyMarker);
  return names.sort((a, b) => a.name.localeCompare(b.name));
}

/** The stored names that belong to an upload: every name its id appears in. */
export const namesOf = (names: StoredName[], uploadId: string) => names.filter((n) => n.name.includes(uploadId)).map((n) => n.name);

// --- clients -----------------------------------------------------------------------------

const tusHeaders = (user: TestUser) => ({ ...user.auth, 'Tus-Resumable': '1.0.0' });
export const uploadIdOf = (url: string) => url.split('/').pop()!;

/**
 * A whole tus upload with tus-js-client, in chunks of `chunkSize`; answers its URL and the
 * file id. `options` such as `uploadDataDuringCreation` go to tus-js-client.
 */
export function tusUpload(
  baseUrl: string,
  user: TestUser,
  data: Buffer,
  name: string,
  chunkSize: number,
  options: Partial<tus.UploadOptions> = {},
): Promise<{ url: string; fileId: string }> {
  let fileId: string | undefined;
  return new Promise((resolve, reject) => {
    const upload = new tus.Upload(data, {
      endpoint: `${baseUrl}/api/uploads/tus`,
      headers: user.auth,
      chunkSize,
      retryDelays: [],
      metadata: { filename: name, filetype: 'application/octet-stream' },
      onAfterResponse: (_req, res) => {
        fileId = res.getHeader('GoVault-File-Id') ?? fileId;
      },
      onSuccess: () => (fileId ? resolve({ url: upload.url!, fileId }) : reject(new Error('no GoVault-File-Id'))),
      onError: reject,
      ...options,
    });
    upload.start();
  });
}

/** A tus upload of `length` bytes that receives only `sent` of them (one PATCH), as a client that stopped leaves it. */
export async function incompleteTusUpload(baseUrl: string, user: TestUser, length: number, sent: Buffer): Promise<string> {
  const created = await fetch(`${baseUrl}/api/uploads/tus`, {
    method: 'POST',
    headers: { ...tusHeaders(user), 'Upload-Length': String(length), 'Upload-Metadata': `filename ${Buffer.from('unfinished.bin').toString('base64')}` },
  });
  if (created.status !== 201) throw new Error(`tus creation answered ${created.status}`);
  const url = new URL(created.headers.get('location')!, baseUrl).toString();
  const patched = await fetch(url, {
    method: 'PATCH',
    headers: { ...tusHeaders(user), 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
    body: sent,
  });
  if (patched.status !== 204) throw new Error(`PATCH answered ${patched.status}`);
  return url;
}

export async function tusHead(url: string, user: TestUser): Promise<{ status: number; offset: string | null }> {
  const head = await fetch(url, { method: 'HEAD', headers: tusHeaders(user) });
  return { status: head.status, offset: head.headers.get('upload-offset') };
}

export async function tusTerminate(url: string, user: TestUser): Promise<number> {
  return (await fetch(url, { method: 'DELETE', headers: tusHeaders(user) })).status;
}

/** Uppy Companion's S3 calls, through the gateway. */
export function companion(baseUrl: string, user: TestUser) {
  return async (method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> => {
    const response = await fetch(`${baseUrl}/api/uploads/s3/multipart${path}`, {
      method,
      headers: { ...user.auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: await response.json().catch(() => undefined) };
  };
}

/** A direct multipart upload with the given parts stored; completed (answers the file id) or left in flight. */
export async function directUpload(baseUrl: string, user: TestUser, parts: Buffer[], complete: boolean): Promise<{ uploadId: string; key: string; fileId?: string }> {
  const call = companion(baseUrl, user);
  const created = await call('POST', '', { filename: 'direct.bin', type: 'application/octet-stream', metadata: {} });
  if (created.status !== 200) throw new Error(`multipart create answered ${created.status}`);
  const { uploadId, key } = created.body as { uploadId: string; key: string };
  const etags: Array<{ PartNumber: number; ETag: string }> = [];
  for (const [i, part] of parts.entries()) {
    const signed = await call('GET', `/${uploadId}/${i + 1}?key=${encodeURIComponent(key)}`);
    const put = await fetch(signed.body.url as string, { method: 'PUT', body: part });
    if (put.status !== 200) throw new Error(`part PUT answered ${put.status}`);
    etags.push({ PartNumber: i + 1, ETag: put.headers.get('etag')!.replaceAll('"', '') });
  }
  if (!complete) return { uploadId, key };
  const done = await call('POST', `/${uploadId}/complete?key=${encodeURIComponent(key)}`, { parts: etags });
  if (done.status !== 200 || !done.body.fileId) throw new Error(`complete answered ${done.status}: ${JSON.stringify(done.body)}`);
  return { uploadId, key, fileId: done.body.fileId as string };
}
