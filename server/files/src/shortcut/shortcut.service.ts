import { randomUUID } from 'node:crypto';
import { conflict, notFound } from '@govault/lib';
import { toView, type FileService, type ShortcutItem } from '../file/file.service.ts';
import { MissingFileError } from '../db-errors.ts';
import { DuplicateShortcutError, type Shortcut, type ShortcutRepository } from './shortcut.repository.ts';

/** A user's named link to a file they can read; it drops out of view=shortcuts when access ends. */
export class ShortcutService {
  constructor(
    private readonly files: FileService,
    private readonly shortcuts: ShortcutRepository,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async create(userId: string, fileId: string, name?: string): Promise<ShortcutItem> {
    const { file, role } = await this.files.access(userId, fileId, { action: 'read', activeOnly: true });
    const shortcut: Shortcut = { id: randomUUID(), userId, fileId, name: name ?? file.name, createdAt: this.now() };
    try {
      await this.shortcuts.insert(shortcut);
    } catch (err) {
      if (err instanceof DuplicateShortcutError) throw conflict(err.message);
      if (err instanceof MissingFileError) throw notFound('file');
      throw err;
    }
    return { ...toView(file, role), shortcut: { id: shortcut.id, name: shortcut.name, createdAt: shortcut.createdAt.toISOString() } };
  }

  async delete(userId: string, id: string): Promise<void> {
    if (!(await this.shortcuts.delete(id, userId))) throw notFound('shortcut');
  }
}
