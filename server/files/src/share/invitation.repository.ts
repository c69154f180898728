import type { MikroORM } from '@mikro-orm/postgresql';
import type { ShareRole } from '../access/access.ts';
import { isForeignKeyViolation, MissingFileError } from '../db-errors.ts';

/** A grant by email, waiting for a user with that address (normalizeEmail form). */
export interface Invitation {
  fileId: string;
  ownerId: string;
  email: string;
  role: ShareRole;
  createdAt: Date;
  updatedAt: Date;
}

export class DuplicateInvitationError extends Error {
  constructor() {
    super('The file is already shared with this email');
  }
}

export interface InvitationRepository {
  /**
   * Throws DuplicateInvitationError when the address already has an invitation to the
   * file, or a share that came from one.
   */
  insert(invitation: Invitation): Promise<void>;
  listForFile(fileId: string): Promise<Invitation[]>;
  updateRole(fileId: string, email: string, role: ShareRole, at: Date): Promise<Invitation | null>;
  delete(fileId: string, email: string): Promise<boolean>;
  /** Whether any invitation waits at all: the cheap question asked before any user lookup. */
  anyPending(): Promise<boolean>;
  /**
   * Turns every invitation for `email` into a share of `userId`, in one statement; an
   * invitation of the owner to their own file is dropped. Answers how many were claimed.
   */
  claim(email: string, userId: string, at: Date): Promise<number>;
}

type Row = Record<string, unknown>;

export class MikroOrmInvitationRepository implements InvitationRepository {
  constructor(private readonly orm: MikroORM) {}

  async insert(i: Invitation): Promise<void> {
    let rows: Row[];
    try {
      // One statement, so a concurrent grant of the same address cannot slip between the
      // check and the insert: the primary key catches two invitations, NOT EXISTS a share.
      rows = await this.query(
        `INSERT INTO files.invitations (file_id, owner_id, email, role, created_at, updated_at)
         SELECT ?, ?, ?, ?, ?, ?
          WHERE NOT EXISTS (SELECT 1 FROM files.shares WHERE file_id = ? AND email = ?)
         ON CONFLICT (file_id, email) DO NOTHING
         RETURNING file_id`,
        [i.fileId, i.ownerId, i.email, i.role, i.createdAt, i.updatedAt, i.fileId, i.email],
      );
    } catch (err) {
      if (isForeignKeyViolation(err)) throw new MissingFileError('file not found');
      throw err;
    }
    if (rows.length === 0) throw new DuplicateInvitationError();
  }

  async listForFile(fileId: string): Promise<Invitation[]> {
    const rows = await this.query('SELECT * FROM files.invitations WHERE file_id = ? ORDER BY created_at, email', [fileId]);
    return rows.map(toInvitation);
  }

  async updateRole(fileId: string, email: string, role: ShareRole, at: Date): Promise<Invitation | null> {
    const rows = await this.query(
      'UPDATE files.invitations SET role = ?, updated_at = ? WHERE file_id = ? AND email = ? RETURNING *',
      [role, at, fileId, email],
    );
    return rows[0] ? toInvitation(rows[0]) : null;
  }

  async delete(fileId: string, email: string): Promise<boolean> {
    const rows = await this.query('DELETE FROM files.invitations WHERE file_id = ? AND email = ? RETURNING file_id', [fileId, email]);
    return rows.length > 0;
  }

  async anyPending(): Promise<boolean> {
    const rows = await this.query('SELECT EXISTS (SELECT 1 FROM files.invitations) AS pending', []);
    return rows[0]?.pending === true;
  }

  async claim(email: string, userId: string, at: Date): Promise<number> {
    // A user who already holds a share by id keeps it (and its role); the share learns the
    // address the owner typed. The file's own owner is never a grantee (shares_not_owner).
    const rows = await this.query(
      `WITH claimed AS (DELETE FROM files.invitations WHERE email = ? RETURNING file_id, owner_id, email, role)
       INSERT INTO files.shares (file_id, owner_id, user_id, role, email, display_name, created_at, updated_at)
       SELECT file_id, owner_id, ?::uuid, role, email, NULL, ?, ? FROM claimed WHERE owner_id <> ?::uuid
       ON CONFLICT (file_id, user_id) DO UPDATE SET email = COALESCE(shares.email, EXCLUDED.email)
       RETURNING file_id`,
      [email, userId, at, at, userId],
    );
    return rows.length;
  }

  private query(sql: string, params: unknown[]): Promise<Row[]> {
    return this.orm.em.getConnection().execute<Row[]>(sql, params, 'all');
  }
}

function toInvitation(row: Row): Invitation {
  return {
    fileId: row.file_id as string,
    ownerId: row.owner_id as string,
    email: row.email as string,
    role: row.role as Invitation['role'],
    createdAt: new Date(row.created_at as Date),
    updatedAt: new Date(row.updated_at as Date),
  };
}
