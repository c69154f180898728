import type { MikroORM } from '@mikro-orm/postgresql';
import type { ShareRole } from '../access/access.ts';
import { FileEntity, type FileRecord, type Visibility } from './file.entity.ts';

/** A position in a list: the sort timestamp and id of the last item seen. */
export interface ListPosition {
  at: Date;
  id: string;
}

export type ListView = 'owned' | 'shared' | 'shortcuts' | 'trash';

export interface FileListQuery {
  view: ListView;
  userId: string;
  limit: number;
  after?: ListPosition;
  /** Case-insensitive substring of the name (the shortcut's name in view=shortcuts). */
  nameContains?: string;
}

/** One item of a view: the file, the caller's share role if any, and its shortcut in view=shortcuts. */
export interface ListedFile {
  file: FileRecord;
  shareRole: ShareRole | null;
  shortcut?: { id: string; name: string; createdAt: Date };
  position: ListPosition;
}

export interface FileChanges {
  name?: string;
  visibility?: Visibility;
  deletedAt?: Date | null;
  updatedAt: Date;
}

export interface FileRepository {
  /** Inserts unless a file with that upload id exists; answers the stored file either way. */
  insertOnce(file: FileRecord): Promise<FileRecord>;
  /** The file and the share the user holds on it, if any. */
  findForUser(id: string, userId: string | undefined): Promise<{ file: FileRecord; shareRole: ShareRole | null } | null>;
  list(query: FileListQuery): Promise<ListedFile[]>;
  update(id: string, changes: FileChanges): Promise<FileRecord | null>;
  /**
   * Deletes the row (its shares and shortcuts cascade) and queues its object for
   * deletion, in one statement. Answers the storage key, or null if the row was gone.
   */
  deletePermanently(id: string, leaseUntil: Date): Promise<string | null>;
  /** The same for every file in the trash since before `cutoff`, at most `batch` of them. */
  purgeTrashedBefore(cutoff: Date, batch: number): Promise<string[]>;
}

/** The schema every service keeps its tables in (server/lib/src/db.ts). */
const S = 'files';

type Row = Record<string, unknown>;

/**
 * Plain SQL for the views: each is a keyset query over one index, `(sort key, id) < (?, ?)`
 * as a row comparison, which PostgreSQL uses as an index condition (see EXPLAIN in
 * test/plans.test.ts and the README).
 */
const views: Record<ListView, { from: string; where: string; at: string; id: string; name: string }> = {
  owned: {
    from: `${S}.files f`,
    where: 'f.owner_id = ? AND f.deleted_at IS NULL',
    at: 'f.created_at',
    id: 'f.id',
    name: 'f.name',
  },
  trash: {
    from: `${S}.files f`,
    where: 'f.owner_id = ? AND f.deleted_at IS NOT NULL',
    at: 'f.deleted_at',
    id: 'f.id',
    name: 'f.name',
  },
  shared: {
    from: `${S}.shares s JOIN ${S}.files f ON f.id = s.file_id`,
    where: 's.user_id = ? AND f.deleted_at IS NULL',
    at: 's.created_at',
    id: 's.file_id',
    name: 'f.name',
  },
  // A shortcut whose target the user can no longer see is left out, not an error.
  shortcuts: {
    from: `${S}.shortcuts sc JOIN ${S}.files f ON f.id = sc.file_id LEFT JOIN ${S}.shares s ON s.file_id = sc.file_id AND s.user_id = sc.user_id`,
    where: `sc.user_id = ? AND f.deleted_at IS NULL AND (f.owner_id = sc.user_id OR s.user_id IS NOT NULL OR f.visibility = 'public')`,
    at: 'sc.created_at',
    id: 'sc.id',
    name: 'sc.name',
  },
};

const extraColumns: Record<ListView, string> = {
  owned: '',
  trash: '',
  shared: ', s.role AS share_role',
  shortcuts: ', s.role AS share_role, sc.id AS shortcut_id, sc.name AS shortcut_name, sc.created_at AS shortcut_created_at',
};

/** The SQL of a view's page; exported so the plan test explains exactly what runs. */
export function listSql(query: FileListQuery): { sql: string; params: unknown[] } {
  const view = views[query.view];
  const params: unknown[] = [query.userId];
  let where = view.where;
  if (query.nameContains) {
    where += ` AND ${view.name} ILIKE ?`;
    params.push(`%${escapeLike(query.nameContains)}%`);
  }
  if (query.after) {
    where += ` AND (${view.at}, ${view.id}) < (?, ?)`;
    params.push(query.after.at, query.after.id);
  }
  params.push(query.limit);
  const sql =
    `SELECT f.*, ${view.at} AS position_at, ${view.id} AS position_id${extraColumns[query.view]} ` +
    `FROM ${view.from} WHERE ${where} ORDER BY ${view.at} DESC, ${view.id} DESC LIMIT ?`;
  return { sql, params };
}

export class MikroOrmFileRepository implements FileRepository {
  constructor(private readonly orm: MikroORM) {}

  async insertOnce(file: FileRecord): Promise<FileRecord> {
    const em = this.orm.em.fork();
    // ON CONFLICT DO NOTHING waits for a concurrent insert of the same upload id to
    // commit, so the select after it always finds the one row.
    await em.createQueryBuilder(FileEntity).insert(file).onConflict('uploadId').ignore().execute();
    return em.findOneOrFail(FileEntity, { uploadId: file.uploadId });
  }

  async findForUser(id: string, userId: string | undefined) {
    const rows = await this.query(
      `SELECT f.*, s.role AS share_role FROM ${S}.files f
       LEFT JOIN ${S}.shares s ON s.file_id = f.id AND s.user_id = ?::uuid WHERE f.id = ?`,
      [userId ?? null, id],
    );
    const row = rows[0];
    return row ? { file: toRecord(row), shareRole: (row.share_role as ShareRole | null) ?? null } : null;
  }

  async list(query: FileListQuery): Promise<ListedFile[]> {
    const { sql, params } = listSql(query);
    const rows = await this.query(sql, params);
    return rows.map((row) => ({
      file: toRecord(row),
      shareRole: (row.share_role as ShareRole | null | undefined) ?? null,
      shortcut: row.shortcut_id
        ? { id: row.shortcut_id as string, name: row.shortcut_name as string, createdAt: toDate(row.shortcut_created_at) }
        : undefined,
      position: { at: toDate(row.position_at), id: row.position_id as string },
    }));
  }

  async update(id: string, changes: FileChanges): Promise<FileRecord | null> {
    const columns: Array<[string, unknown]> = [['updated_at', changes.updatedAt]];
    if (changes.name !== undefined) columns.push(['name', changes.name]);
    if (changes.visibility !== undefined) columns.push(['visibility', changes.visibility]);
    if (changes.deletedAt !== undefined) columns.push(['deleted_at', changes.deletedAt]);
    const sets = columns.map(([column]) => `${column} = ?`).join(', ');
    const rows = await this.query(`UPDATE ${S}.files SET ${sets} WHERE id = ? RETURNING *`, [...columns.map(([, v]) => v), id]);
    return rows[0] ? toRecord(rows[0]) : null;
  }

  async deletePermanently(id: string, leaseUntil: Date): Promise<string | null> {
    const rows = await this.query(
      `WITH gone AS (DELETE FROM ${S}.files WHERE id = ? RETURNING storage_key),
            queued AS (INSERT INTO ${S}.object_deletions (storage_key, next_attempt_at)
                       SELECT storage_key, ? FROM gone ON CONFLICT (storage_key) DO NOTHING)
       SELECT storage_key FROM gone`,
      [id, leaseUntil],
    );
    return (rows[0]?.storage_key as string | undefined) ?? null;
  }

  async purgeTrashedBefore(cutoff: Date, batch: number): Promise<string[]> {
    // SKIP LOCKED: several instances purging at once take different rows.
    const rows = await this.query(
      `WITH gone AS (
         DELETE FROM ${S}.files WHERE id IN (
           SELECT id FROM ${S}.files WHERE deleted_at IS NOT NULL AND deleted_at < ?
           ORDER BY deleted_at LIMIT ? FOR UPDATE SKIP LOCKED)
         RETURNING storage_key),
       queued AS (INSERT INTO ${S}.object_deletions (storage_key, next_attempt_at)
                  SELECT storage_key, now() FROM gone ON CONFLICT (storage_key) DO NOTHING)
       SELECT storage_key FROM gone`,
      [cutoff, batch],
    );
    return rows.map((row) => row.storage_key as string);
  }

  private query(sql: string, params: unknown[]): Promise<Row[]> {
    return this.orm.em.getConnection().execute<Row[]>(sql, params, 'all');
  }
}

function toDate(value: unknown): Date {
  return value instanceof Date ? value : new Date(value as string);
}

function toRecord(row: Row): FileRecord {
  return {
    id: row.id as string,
    ownerId: row.owner_id as string,
    uploadId: row.upload_id as string,
    name: row.name as string,
    size: Number(row.size),
    contentType: row.content_type as string,
    checksum: (row.checksum as string | null) ?? null,
    storageKey: row.storage_key as string,
    visibility: row.visibility as Visibility,
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
    deletedAt: row.deleted_at ? toDate(row.deleted_at) : null,
  };
}

/** LIKE's wildcards and its escape character (backslash by default) match literally. */
function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`);
}
