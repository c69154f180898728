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
}

/** The upload service's JSON routes (the tus and multipart byte paths belong to Uppy, in src/upload/). */
export class UploadsApi {
  constructor(private readonly http: Http) {}

  unfinished(): Promise<{ items: UnfinishedUpload[] }> {
    return this.http.json('GET', '/api/uploads', { query: { state: 'incomplete' } });
  }
}
