import type { MikroORM } from '@mikro-orm/postgresql';
import type { ShareRole } from '../access/access.ts';
import { isForeignKeyViolation, isUniqueViolation, MissingFileError } from '../db-errors.ts';

export interface Share {
  fileId: string;
  ownerId: string;
  userId: string;
  role: ShareRole;
  /** The address the owner typed, when the share was an invitation; null for a grant by id. */
  email: string | null;
  /** Only rows from before invitations carry one (migrations/files/003); new shares never do. */
  displayName: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export class DuplicateShareError extends Error {
  constructor() {
    super('The file is already shared with this user');
  }
}

export interface ShareRepository {
  /** Throws DuplicateShareError when the user already holds a share on the file. */
  insert(share: Share): Promise<void>;
  listForFile(fileId: string): Promise<Share[]>;
  updateRole(fileId: string, userId: string, role: ShareRole, at: Date): Promise<Share | null>;
  delete(fileId: string, userId: string): Promise<boolean>;
  /** The same for the share that an invitation to `email` became. */
  updateRoleByEmail(fileId: string, email: string, role: ShareRole, at: Date): Promise<Share | null>;
  deleteByEmail(fileId: string, email: string): Promise<boolean>;
}

type Row = Record<string, unknown>;

export class MikroOrmShareRepository implements ShareRepository {
  constructor(private readonly orm: MikroORM) {}

  async insert(share: Share): Promise<void> {
    try {
      await this.query(
        `INSERT INTO files.shares (file_id, owner_id, user_id, role, email, display_name, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        [share.fileId, share.ownerId, share.userId, share.role, share.email, share.displayName, share.createdAt, share.updatedAt],
      );
    } catch (err) {
      if (isUniqueViolation(err)) throw new DuplicateShareError();
      if (isForeignKeyViolation(err)) throw new MissingFileError('file not found');
      throw err;
    }
  }

  async listForFile(fileId: string): Promise<Share[]> {
    const rows = await this.query('SELECT * FROM files.shares WHERE file_id = ? ORDER BY created_at, user_id', [fileId]);
    return rows.map(toShare);
  }

  async updateRole(fileId: string, userId: string, role: ShareRole, at: Date): Promise<Share | null> {
    const rows = await this.query(
      'UPDATE files.shares SET role = ?, updated_at = ? WHERE file_id = ? AND user_id = ? RETURNING *',
      [role, at, fileId, userId],
    );
    return rows[0] ? toShare(rows[0]) : null;
  }

  async delete(fileId: string, userId: string): Promise<boolean> {
    const rows = await this.query('DELETE FROM files.shares WHERE file_id = ? AND user_id = ? RETURNING file_id', [fileId, userId]);
    return rows.length > 0;
  }

  async updateRoleByEmail(fileId: string, email: string, role: ShareRole, at: Date): Promise<Share | null> {
    const rows = await this.query(
      'UPDATE files.shares SET role = ?, updated_at = ? WHERE file_id = ? AND email = ? RETURNING *',
      [role, at, fileId, email],
    );
    return rows[0] ? toShare(rows[0]) : null;
  }

  async deleteByEmail(fileId: string, email: string): Promise<boolean> {
    const rows = await this.query('DELETE FROM files.shares WHERE file_id = ? AND email = ? RETURNING file_id', [fileId, email]);
    return rows.length > 0;
  }

  private query(sql: string, params: unknown[]): Promise<Row[]> {
    return this.orm.em.getConnection().execute<Row[]>(sql, params, 'all');
  }
}

function toShare(row: Row): Share {
  return {
    fileId: row.file_id as string,
    ownerId: row.owner_id as string,
    userId: row.user_id as string,
    role: row.role as ShareRole,
    email: (row.email as string | null) ?? null,
    displayName: (row.display_name as string | null) ?? null,
    createdAt: new Date(row.created_at as Date),
    updatedAt: new Date(row.updated_at as Date),
  };
}
