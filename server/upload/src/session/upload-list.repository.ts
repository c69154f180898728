import type { Sql } from '../storage/sql.ts';

/** An upload as its owner's list of unfinished (or failed) uploads shows it. */
export interface ListedUploadRow {
  id: string;
  protocol: 'tus' | 'multipart';
  filename: string;
  size: number | null;
  offset: number;
  createdAt: Date;
  updatedAt: Date;
  /** Where the bytes are stored: for a direct upload, the object key its client names in every call. */
  storageKey: string;
  /** Only for uploads whose registration the files service refused. */
  failure?: { code: string; message: string };
}

export interface UploadListRepository {
  /** The owner's uploads in flight, newest first. */
  incomplete(ownerId: string, limit: number): Promise<ListedUploadRow[]>;
  /** The owner's completed uploads that the files service refused to make files of, newest first. */
  failed(ownerId: string, limit: number): Promise<ListedUploadRow[]>;
}

interface Row {
  id: string;
  protocol: 'tus' | 'multipart';
  filename: string;
  size: string | null;
  upload_offset: string;
  storage_key: string;
  created_at: Date;
  updated_at: Date;
  failure_code?: string;
  last_error?: string | null;
}

// A direct upload records no offset: the bytes it holds are its recorded parts.
const COLUMNS = `s.id, s.protocol, s.filename, s.size, s.storage_key, s.created_at, s.updated_at,
  CASE WHEN s.protocol = 'multipart'
    THEN (SELECT COALESCE(SUM(p.size), 0) FROM {parts} p WHERE p.upload_id = s.id)
    ELSE s.upload_offset END AS upload_offset`;

export class SqlUploadListRepository implements UploadListRepository {
  constructor(private readonly sql: Sql) {}

  private columns(): string {
    return COLUMNS.replace('{parts}', this.sql.table('upload_parts'));
  }

  async incomplete(ownerId: string, limit: number): Promise<ListedUploadRow[]> {
    const rows = await this.sql.all<Row>(
      `SELECT ${this.columns()} FROM ${this.sql.table('upload_sessions')} s
       WHERE s.owner_id = ? AND s.state IN ('created', 'uploading') AND s.concat IS DISTINCT FROM 'partial'
       ORDER BY s.created_at DESC LIMIT ?`,
      [ownerId, limit],
    );
    return rows.map(toListed);
  }

  async failed(ownerId: string, limit: number): Promise<ListedUploadRow[]> {
    const rows = await this.sql.all<Row>(
      `SELECT ${this.columns()}, o.failure_code, o.last_error FROM ${this.sql.table('registration_outbox')} o
       JOIN ${this.sql.table('upload_sessions')} s ON s.id = o.upload_id
       WHERE o.failed_at IS NOT NULL AND s.owner_id = ? AND s.file_id IS NULL
       ORDER BY s.created_at DESC LIMIT ?`,
      [ownerId, limit],
    );
    return rows.map(toListed);
  }
}

function toListed(row: Row): ListedUploadRow {
  return {
    id: row.id,
    protocol: row.protocol,
    filename: row.filename,
    size: row.size === null ? null : Number(row.size),
    offset: Number(row.upload_offset),
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
    storageKey: row.storage_key,
    ...(row.failure_code ? { failure: { code: row.failure_code, message: row.last_error ?? row.failure_code } } : {}),
  };
}
