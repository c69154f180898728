import { randomUUID } from 'node:crypto';
import { conflict, notFound, validationFailed } from '@govault/lib';
import type { ObjectContent, ObjectStorage } from '../storage/object-storage.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import type { FileRecord, Visibility } from './file.entity.ts';
import type { FileRepository } from './file.repository.ts';

export type Role = 'owner' | 'public';

/** The file as clients see it (ARCHITECTURE.md, "Details the clients rely on"). */
export interface FileView {
  id: string;
  name: string;
  size: number;
  contentType: string;
  checksum: string | null;
  visibility: Visibility;
  ownerId: string;
  role: Role;
  createdAt: string;
  updatedAt: string;
  deletedAt: string | null;
}

export interface NewFile {
  uploadId: string;
  ownerId: string;
  name: string;
  size: number;
  contentType: string;
  storageKey: string;
  checksum?: string | null;
}

export type ListView = 'owned' | 'shared' | 'shortcuts' | 'trash';

export interface ListRequest {
  view: ListView;
  limit: number;
  cursor?: string;
  q?: string;
}

export interface FilePage {
  items: FileView[];
  nextCursor: string | null;
}

export class FileService {
  constructor(
    private readonly files: FileRepository,
    private readonly storage: ObjectStorage,
  ) {}

  /** Idempotent on the upload id: a repeated registration answers the file made the first time. */
  async register(input: NewFile): Promise<{ file: FileView; created: boolean }> {
    const now = new Date();
    const candidate: FileRecord = {
      id: randomUUID(),
      ...input,
      checksum: input.checksum ?? null,
      visibility: 'private',
      createdAt: now,
      updatedAt: now,
      deletedAt: null,
    };
    const stored = await this.files.insertOnce(candidate);
    if (stored.ownerId !== input.ownerId || stored.storageKey !== input.storageKey) {
      throw conflict('This upload is already registered as another file');
    }
    return { file: toView(stored, 'owner'), created: stored.id === candidate.id };
  }

  async list(userId: string, request: ListRequest): Promise<FilePage> {
    if (request.view === 'shared' || request.view === 'shortcuts') {
      throw validationFailed(`view=${request.view} is not available yet`);
    }
    const trash = request.view === 'trash';
    const rows = await this.files.list({
      ownerId: userId,
      state: trash ? 'trashed' : 'active',
      limit: request.limit + 1,
      after: request.cursor ? decodeCursor(request.cursor, request.view) : undefined,
      nameContains: request.q,
    });
    const page = rows.slice(0, request.limit);
    const last = page.at(-1);
    const nextCursor =
      rows.length > request.limit && last
        ? encodeCursor(request.view, { at: trash ? last.deletedAt! : last.createdAt, id: last.id })
        : null;
    return { items: page.map((file) => toView(file, 'owner')), nextCursor };
  }

  async get(userId: string, id: string): Promise<FileView> {
    const { file, role } = await this.visibleFile(userId, id);
    return toView(file, role);
  }

  async content(userId: string, id: string): Promise<{ file: FileView; content: ObjectContent }> {
    const { file, role } = await this.visibleFile(userId, id);
    const content = await this.storage.content(file.storageKey, { filename: file.name, contentType: file.contentType });
    if (!content) throw notFound('file content');
    return { file: toView(file, role), content };
  }

  /** A file the caller may not see is "not found", never "forbidden": its existence stays secret. */
  private async visibleFile(userId: string, id: string): Promise<{ file: FileRecord; role: Role }> {
    const file = await this.files.findById(id);
    if (file?.ownerId === userId) return { file, role: 'owner' };
    if (file && file.visibility === 'public' && !file.deletedAt) return { file, role: 'public' };
    throw notFound('file');
  }
}

function toView(file: FileRecord, role: Role): FileView {
  return {
    id: file.id,
    name: file.name,
    size: file.size,
    contentType: file.contentType,
    checksum: file.checksum,
    visibility: file.visibility,
    ownerId: file.ownerId,
    role,
    createdAt: file.createdAt.toISOString(),
    updatedAt: file.updatedAt.toISOString(),
    deletedAt: file.deletedAt?.toISOString() ?? null,
  };
}
