import type { Session } from './session.ts';

export interface User {
  id: string;
  email: string;
  displayName: string | null;
  createdAt: string;
}

export interface FileItem {
  id: string;
  name: string;
  size: number;
  contentType: string;
  checksum: string | null;
  visibility: 'private' | 'public';
  ownerId: string;
  role: 'owner' | 'editor' | 'viewer' | 'public';
  createdAt: string;
  updatedAt: string;
  deletedAt: string | null;
  /** In view=shortcuts: the shortcut this row stands for. */
  shortcut?: { id: string; name: string | null };
}

export type View = 'owned' | 'shared' | 'shortcuts' | 'trash';

export interface UnfinishedUpload {
  id: string;
  mode: 'tus' | 'direct';
  name: string;
  size: number | null;
  offset: number;
  createdAt: string;
  updatedAt: string;
  expiresAt: string | null;
  uploadId?: string;
  key?: string;
}

export interface Share {
  userId?: string;
  email?: string;
  role: 'viewer' | 'editor';
}

const file = (id: string) => `/api/files/${encodeURIComponent(id)}`;

/** The file API of one server, as the signed-in user. */
export class GovaultApi {
  constructor(readonly session: Session) {}

  async me(): Promise<User> {
    return (await this.session.json<User>('GET', '/api/auth/me')).body;
  }

  async listFiles(view: View, q?: string): Promise<FileItem[]> {
    const items: FileItem[] = [];
    let cursor: string | null = null;
    do {
      const query = new URLSearchParams({ view, limit: '100', ...(q ? { q } : {}), ...(cursor ? { cursor } : {}) });
      const page: { items: FileItem[]; nextCursor: string | null } = (await this.session.json<{ items: FileItem[]; nextCursor: string | null }>('GET', `/api/files?${query}`)).body;
      items.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    return items;
  }

  async getFile(id: string): Promise<FileItem> {
    return (await this.session.json<FileItem>('GET', file(id))).body;
  }

  /** The file if it still exists and is not in the trash. */
  async liveFile(id: string): Promise<FileItem | undefined> {
    const answer = await this.session.json<FileItem>('GET', file(id), { accept: [404] });
    return answer.status === 200 && !answer.body.deletedAt ? answer.body : undefined;
  }

  async updateFile(id: string, change: { name?: string; visibility?: 'private' | 'public' }): Promise<FileItem> {
    return (await this.session.json<FileItem>('PATCH', file(id), { body: change })).body;
  }

  async trash(id: string): Promise<void> {
    await this.session.json('DELETE', file(id));
  }

  async restore(id: string): Promise<FileItem> {
    return (await this.session.json<FileItem>('POST', `${file(id)}/restore`)).body;
  }

  async purge(id: string): Promise<void> {
    await this.session.json('DELETE', `${file(id)}/permanent`);
  }

  async share(id: string, email: string, role: Share['role']): Promise<Share> {
    return (await this.session.json<Share>('POST', `${file(id)}/shares`, { body: { email, role } })).body;
  }

  async unshare(id: string, email: string): Promise<void> {
    await this.session.json('DELETE', `${file(id)}/shares/${encodeURIComponent(email)}`);
  }

  async addShortcut(fileId: string): Promise<{ id: string }> {
    return (await this.session.json<{ id: string }>('POST', '/api/shortcuts', { body: { fileId } })).body;
  }

  async unfinishedUploads(): Promise<UnfinishedUpload[]> {
    return (await this.session.json<{ items: UnfinishedUpload[] }>('GET', '/api/uploads?state=incomplete')).body.items;
  }

  /** The largest upload the server takes (its tus `Tus-Max-Size`), if it says. */
  async maxUploadSize(): Promise<number | undefined> {
    const answer = await this.session.http.send('OPTIONS', this.session.http.url('/api/uploads/tus'), { headers: { 'tus-resumable': '1.0.0' } });
    await answer.body?.cancel();
    const max = Number(answer.headers.get('tus-max-size'));
    return Number.isSafeInteger(max) && max > 0 ? max : undefined;
  }
}
