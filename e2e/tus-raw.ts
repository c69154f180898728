import http from 'node:http';
import type { TestUser } from './client.ts';

/**
 * tus requests made by hand, for the steps a library hides: a creation without bytes, a
 * PATCH whose body the test sends piece by piece, cuts or keeps hanging.
 */
const TUS = { 'Tus-Resumable': '1.0.0' };

/** POST /api/uploads/tus; answers the upload URL (the Location, built for the gateway's host). */
export async function createUpload(baseUrl: string, user: TestUser, size: number, name = 'upload.bin', headers: Record<string, string> = {}): Promise<string> {
  const response = await fetch(`${baseUrl}/api/uploads/tus`, {
    method: 'POST',
    headers: { ...user.auth, ...TUS, 'Upload-Length': String(size), 'Upload-Metadata': `filename ${Buffer.from(name).toString('base64')}`, ...headers },
  });
  if (response.status !== 201) throw new Error(`creation answered ${response.status}: ${await response.text()}`);
  return response.headers.get('location')!;
}

export async function patchUpload(url: string, user: TestUser, offset: number, body: Uint8Array, headers: Record<string, string> = {}) {
  return fetch(url, {
    method: 'PATCH',
    headers: { ...user.auth, ...TUS, 'Upload-Offset': String(offset), 'Content-Type': 'application/offset+octet-stream', ...headers },
    body,
  });
}

export async function headUpload(url: string, user: TestUser) {
  return fetch(url, { method: 'HEAD', headers: { ...user.auth, ...TUS } });
}

export async function terminateUpload(url: string, user: TestUser) {
  return fetch(url, { method: 'DELETE', headers: { ...user.auth, ...TUS } });
}

/** A PATCH in progress: the test writes its body, and can cut it off or wait for the answer. */
export interface OpenPatch {
  write(bytes: Uint8Array): Promise<void>;
  /** The client goes away mid-body (a killed process, a dropped connection). */
  cut(): void;
  answer: Promise<{ status: number; headers: http.IncomingHttpHeaders }>;
}

export function openPatch(url: string, user: TestUser, offset: number, contentLength: number): OpenPatch {
  const request = http.request(url, {
    method: 'PATCH',
    agent: false,
    headers: {
      ...user.auth,
      ...TUS,
      'Upload-Offset': String(offset),
      'Content-Type': 'application/offset+octet-stream',
      'Content-Length': String(contentLength),
    },
  });
  const answer = new Promise<{ status: number; headers: http.IncomingHttpHeaders }>((resolve, reject) => {
    request.once('response', (response) => {
      response.resume();
      resolve({ status: response.statusCode!, headers: response.headers });
    });
    request.once('error', reject);
  });
  answer.catch(() => undefined); // a cut request has no answer; a caller that waits for one sees the error
  request.flushHeaders();
  return {
    write: (bytes) => new Promise((resolve, reject) => request.write(bytes, (err) => (err ? reject(err) : resolve()))),
    cut: () => request.destroy(),
    answer,
  };
}
