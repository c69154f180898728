import type { Http } from './http.ts';

export type View = 'owned' | 'shared' | 'shortcuts' | 'trash';
export type Role = 'owner' | 'editor' | 'viewer' | 'public';
export type ShareRole = 'viewer' | 'editor';

export interface FileItem {
  id: string;
  name: string;
  size: number;
  contentType: string;
  checksum: string | null;
  visibility: 'private' | 'public';
  ownerId?: string;
  role: Role;
  createdAt: string;
  updatedAt: string;
  deletedAt: string | null;
  /** Only in view=shortcuts. */
  shortcut?: { id: string; name: string; createdAt: string };
}

export interface FilePage {
  items: FileItem[];
  nextCursor: string | null;
}

export interface PublicFile {
  id: string;
  name: string;
  size: number;
  contentType: string | null;
  createdAt: string;
}

/** One grant as the owner sees it: a share (by user id or claimed invitation) or a pending invitation. */
export interface Grant {
  userId: string | null;
  email: string | null;
  displayName: string | null;
  role: ShareRole;
  createdAt: string;
  status: 'active' | 'pending';
}

export interface ListQuery {
  view: View;
  q?: string;
  cursor?: string;
  limit?: number;
}

/** The files service, through the gateway. */
export class FilesApi {
  constructor(private readonly http: Http) {}

  list({ view, q, cursor, limit }: ListQuery): Promise<FilePage> {
    return this.http.json('GET', '/api/files', { query: { view, q, cursor, limit } });
  }

  get(id: string): Promise<FileItem> {
    return this.http.json('GET', `/api/files/${encodeURIComponent(id)}`);
  }

  rename(id: string, name: string): Promise<FileItem> {
    return this.http.json('PATCH', `/api/files/${encodeURIComponent(id)}`, { body: { name } });
  }

  setVisibility(id: string, visibility: 'private' | 'public'): Promise<FileItem> {
    return this.http.json('PATCH', `/api/files/${encodeURIComponent(id)}`, { body: { visibility } });
  }

  trash(id: string): Promise<void> {
    return this.http.json('DELETE', `/api/files/${encodeURIComponent(id)}`);
  }

  restore(id: string): Promise<FileItem> {
    return this.http.json('POST', `/api/files/${encodeURIComponent(id)}/restore`);
  }

  deleteForever(id: string): Promise<void> {
    return this.http.json('DELETE', `/api/files/${encodeURIComponent(id)}/permanent`);
  }

  /** The bytes, fetched with the access token (a redirect to a presigned URL is followed). */
  async content(id: string): Promise<Blob> {
    return (await this.http.send('GET', `/api/files/${encodeURIComponent(id)}/content`, { headers: { Accept: '*/*' } })).blob();
  }

  shares(id: string): Promise<{ items: Grant[] }> {
    return this.http.json('GET', `/api/files/${encodeURIComponent(id)}/shares`);
  }

  share(id: string, email: string, role: ShareRole): Promise<Grant> {
    return this.http.json('POST', `/api/files/${encodeURIComponent(id)}/shares`, { body: { email, role } });
  }

  /** `grantee` is the grant's user id, or its email for an invitation. */
  changeRole(id: string, grantee: string, role: ShareRole): Promise<Grant> {
    return this.http.json('PUT', `/api/files/${encodeURIComponent(id)}/shares/${encodeURIComponent(grantee)}`, { body: { role } });
  }

  unshare(id: string, grantee: string): Promise<void> {
    return this.http.json('DELETE', `/api/files/${encodeURIComponent(id)}/shares/${encodeURIComponent(grantee)}`);
  }

  /** 201 with the file and its new `shortcut`; 409 when the caller already has one to it. */
  addShortcut(fileId: string, name?: string): Promise<FileItem & { shortcut: NonNullable<FileItem['shortcut']> }> {
    return this.http.json('POST', '/api/shortcuts', { body: { fileId, ...(name ? { name } : {}) } });
  }

  /**
   * The caller's shortcut to a file, looked up among shortcuts named like it (the API has
   * no lookup by file): undefined when it is not among them, e.g. after a rename.
   */
  async findShortcut(fileId: string, name: string): Promise<string | undefined> {
    const page = await this.list({ view: 'shortcuts', q: name, limit: 100 });
    return page.items.find((item) => item.id === fileId)?.shortcut?.id;
  }

  removeShortcut(shortcutId: string): Promise<void> {
    return this.http.json('DELETE', `/api/shortcuts/${encodeURIComponent(shortcutId)}`);
  }

  publicFile(id: string): Promise<PublicFile> {
    return this.http.json('GET', `/api/public/files/${encodeURIComponent(id)}`, { auth: false });
  }

  /** A public file's download address: no token needed, so a plain link works. */
  publicContentUrl(id: string): string {
    return `/api/public/files/${encodeURIComponent(id)}/content`;
  }
}
