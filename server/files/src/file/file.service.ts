import { randomUUID } from 'node:crypto';
import { conflict, notFound } from '@govault/lib';
import { authorize, roleOf, type AccessRule, type Role } from '../access/access.ts';
import type { ObjectContent, ObjectStorage } from '../storage/object-storage.ts';
import { DELETION_LEASE_MS, type ObjectReaper } from '../trash/object-reaper.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import type { FileRecord, Visibility } from './file.entity.ts';
import type { FileRepository, ListedFile, ListView } from './file.repository.ts';

export type { ListView, Role };

/** The file as clients see it (ARCHITECTURE.md, "Details the clients rely on"). */
export interface FileView {
  id: string;
  name: string;
  size: number;
  contentType: string;
  checksum: string | null;
  visibility: Visibility;
  /** Absent when the caller's role is `public`: a public file tells nobody who owns it. */
  ownerId?: string;
  role: Role;
  createdAt: string;
  updatedAt: string;
  deletedAt: string | null;
}

/** An item of view=shortcuts: the target file plus the shortcut itself. */
export interface ShortcutItem extends FileView {
  shortcut: { id: string; name: string; createdAt: string };
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

export interface ListRequest {
  view: ListView;
  limit: number;
  cursor?: string;
  q?: string;
}

export interface FilePage {
  items: Array<FileView | ShortcutItem>;
  nextCursor: string | null;
}

export interface FilePatch {
  name?: string;
  visibility?: Visibility;
}

/** Whatever must happen when a signed-in user reaches the files service (InvitationClaims). */
export interface UserArrivals {
  claimFor(userId: string): Promise<void>;
}

const nothingToClaim: UserArrivals = { claimFor: async () => undefined };

/** A file and the caller's role on it, once access is checked. */
export interface Accessible {
  file: FileRecord;
  role: Role;
}

export class FileService {
  constructor(
    private readonly files: FileRepository,
    private readonly storage: ObjectStorage,
    private readonly reaper: ObjectReaper,
    private readonly arrivals: UserArrivals = nothingToClaim,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Idempotent on the upload id: a repeated registration answers the file made the first time. */
  async register(input: NewFile): Promise<{ file: FileView; created: boolean }> {
    const now = this.now();
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
    await this.arrivals.claimFor(userId);
    const rows = await this.files.list({
      view: request.view,
      userId,
      limit: request.limit + 1,
      after: request.cursor ? decodeCursor(request.cursor, request.view) : undefined,
      nameContains: request.q,
    });
    const page = rows.slice(0, request.limit);
    const last = page.at(-1);
    const nextCursor = rows.length > request.limit && last ? encodeCursor(request.view, last.position) : null;
    return { items: page.map((row) => listedView(row, userId)), nextCursor };
  }

  /** The file if the caller may do `rule.action` with it; 404/403/409 otherwise (see access.ts). */
  async access(userId: string | undefined, id: string, rule: AccessRule): Promise<Accessible> {
    if (userId !== undefined) await this.arrivals.claimFor(userId);
    const found = await this.files.findForUser(id, userId);
    const role = found ? roleOf(found.file, userId, found.shareRole) : null;
    authorize(found?.file ?? null, role, rule);
    return { file: found!.file, role };
  }

  async get(userId: string, id: string): Promise<FileView> {
    const { file, role } = await this.access(userId, id, { action: 'read' });
    return toView(file, role);
  }

  async content(userId: string, id: string): Promise<{ file: FileView; content: ObjectContent }> {
    return this.contentOf(await this.access(userId, id, { action: 'read' }));
  }

  /** /api/public/*: public files that are not in the trash, for anyone, signed in or not. */
  async getPublic(id: string): Promise<FileView> {
    return toView(await this.publicFile(id), 'public');
  }

  async publicContent(id: string): Promise<{ file: FileView; content: ObjectContent }> {
    return this.contentOf({ file: await this.publicFile(id), role: 'public' });
  }

  /** Rename: owner or editor. Visibility: owner. */
  async update(userId: string, id: string, patch: FilePatch): Promise<FileView> {
    const action = patch.visibility !== undefined ? 'manage' : 'rename';
    const { role } = await this.access(userId, id, { action, activeOnly: true });
    const updated = await this.files.update(id, { ...patch, updatedAt: this.now() });
    if (!updated) throw notFound('file');
    return toView(updated, role);
  }

  /** To the trash (owner). Trashing a trashed file keeps its first deletion time. */
  async trash(userId: string, id: string): Promise<void> {
    const { file } = await this.access(userId, id, { action: 'manage' });
    if (file.deletedAt) return;
    const now = this.now();
    await this.files.update(id, { deletedAt: now, updatedAt: now });
  }

  /** Out of the trash (owner); a file that is not in the trash is answered as it is. */
  async restore(userId: string, id: string): Promise<FileView> {
    const { file } = await this.access(userId, id, { action: 'manage' });
    if (!file.deletedAt) return toView(file, 'owner');
    const restored = await this.files.update(id, { deletedAt: null, updatedAt: this.now() });
    if (!restored) throw notFound('file');
    return toView(restored, 'owner');
  }

  /**
   * Owner, from any state. The row goes first, together with a queued deletion of its
   * object (one statement), then the object; a failed object delete is retried by the
   * housekeeping loop. The client sees the file gone either way.
   */
  async deletePermanently(userId: string, id: string): Promise<void> {
    await this.access(userId, id, { action: 'manage' });
    const key = await this.files.deletePermanently(id, new Date(this.now().getTime() + DELETION_LEASE_MS));
    if (key) await this.reaper.delete(key);
  }

  private async publicFile(id: string): Promise<FileRecord> {
    const found = await this.files.findForUser(id, undefined);
    if (!found || found.file.visibility !== 'public' || found.file.deletedAt) throw notFound('file');
    return found.file;
  }

  private async contentOf({ file, role }: Accessible): Promise<{ file: FileView; content: ObjectContent }> {
    const content = await this.storage.content(file.storageKey, { filename: file.name, contentType: file.contentType });
    if (!content) throw notFound('file content');
    return { file: toView(file, role), content };
  }
}

function listedView(row: ListedFile, userId: string): FileView | ShortcutItem {
  const role = roleOf(row.file, userId, row.shareRole) ?? 'public';
  const view = toView(row.file, role);
  if (!row.shortcut) return view;
  const { id, name, createdAt } = row.shortcut;
  return { ...view, shortcut: { id, name, createdAt: createdAt.toISOString() } };
}

export function toView(file: FileRecord, role: Role): FileView {
  return {
    id: file.id,
    name: file.name,
    size: file.size,
    contentType: file.contentType,
    checksum: file.checksum,
    visibility: file.visibility,
    ...(role === 'public' ? {} : { ownerId: file.ownerId }),
    role,
    createdAt: file.createdAt.toISOString(),
    updatedAt: file.updatedAt.toISOString(),
    deletedAt: file.deletedAt?.toISOString() ?? null,
  };
}
