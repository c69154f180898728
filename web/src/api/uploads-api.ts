import type { Http } from './http.ts';

export interface UnfinishedUpload {
  id: string;
  mode: 'tus' | 'direct';
  name: string;
  size: number | null;
  /** Bytes the server holds. */
  offset: number;
  createdAt: string;
  updatedAt: string;
  expiresAt: string | null;
  /** Direct uploads only: what Companion's routes name the upload by. */
  uploadId?: string;
  key?: string;
}

export const TUS_PATH = '/api/uploads/tus';
export const MULTIPART_PATH = '/api/uploads/s3/multipart';

/** The upload service's JSON routes (the tus and part byte paths belong to Uppy, in src/upload/). */
export class UploadsApi {
  constructor(private readonly http: Http) {}

  unfinished(): Promise<{ items: UnfinishedUpload[] }> {
    return this.http.json('GET', '/api/uploads', { query: { state: 'incomplete' } });
  }

  /** The largest upload the server takes (`Tus-Max-Size` of tus discovery), undefined when it does not say. */
  async maxUploadSize(): Promise<number | undefined> {
    const response = await this.http.send('OPTIONS', TUS_PATH, { auth: false, headers: { 'Tus-Resumable': '1.0.0' } });
    // tus answers 200 with an empty body: read it, or Chromium counts the request as aborted.
    await response.arrayBuffer();
    const size = Number(response.headers.get('Tus-Max-Size'));
    return Number.isSafeInteger(size) && size > 0 ? size : undefined;
  }

  /** Terminates a tus upload: its bytes go. */
  abortTus(id: string): Promise<void> {
    return this.http.json('DELETE', `${TUS_PATH}/${encodeURIComponent(id)}`, { headers: { 'Tus-Resumable': '1.0.0' } });
  }

  abortDirect(uploadId: string, key: string): Promise<void> {
    return this.http.json('DELETE', `${MULTIPART_PATH}/${encodeURIComponent(uploadId)}`, { query: { key } });
  }

  /**
   * One call of Uppy Companion's S3 multipart contract (create, sign, list, complete,
   * abort), sent with the access token and its renewal. `pathAndQuery` follows
   * MULTIPART_PATH, as @uppy/aws-s3 builds it.
   */
  companion(method: string, pathAndQuery: string, body?: unknown): Promise<Response> {
    return this.http.send(method, MULTIPART_PATH + pathAndQuery, { body });
  }
}
