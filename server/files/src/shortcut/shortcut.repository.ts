import type { MikroORM } from '@mikro-orm/postgresql';
import { isForeignKeyViolation, isUniqueViolation, MissingFileError } from '../db-errors.ts';

export interface Shortcut {
  id: string;
  userId: string;
  fileId: string;
  name: string;
  createdAt: Date;
}

export class DuplicateShortcutError extends Error {
  constructor() {
    super('You already have a shortcut to this file');
  }
}

export interface ShortcutRepository {
  /** Throws DuplicateShortcutError when the user already has a shortcut to the file. */
  insert(shortcut: Shortcut): Promise<void>;
  /** Deletes the user's shortcut; false when the user has no shortcut with that id. */
  delete(id: string, userId: string): Promise<boolean>;
}

export class MikroOrmShortcutRepository implements ShortcutRepository {
  constructor(private readonly orm: MikroORM) {}

  async insert(s: Shortcut): Promise<void> {
    try {
      await this.orm.em
        .getConnection()
        .execute('INSERT INTO files.shortcuts (id, user_id, file_id, name, created_at) VALUES (?, ?, ?, ?, ?)', [s.id, s.userId, s.fileId, s.name, s.createdAt], 'run');
    } catch (err) {
      if (isUniqueViolation(err)) throw new DuplicateShortcutError();
      if (isForeignKeyViolation(err)) throw new MissingFileError('file not found');
      throw err;
    }
  }

  async delete(id: string, userId: string): Promise<boolean> {
    const rows = await this.orm.em
      .getConnection()
      .execute<unknown[]>('DELETE FROM files.shortcuts WHERE id = ? AND user_id = ? RETURNING id', [id, userId], 'all');
    return rows.length > 0;
  }
}
