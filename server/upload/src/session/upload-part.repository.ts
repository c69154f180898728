import type { Sql } from '../storage/sql.ts';

export interface UploadPart {
  partNumber: number;
  size: number;
  etag: string;
}

/** The S3 parts of each upload in flight, as S3 reports them. */
export interface UploadPartRepository {
  /** Records parts (a new one, or what ListParts says); a part number seen again is overwritten. */
  record(uploadId: string, parts: UploadPart[]): Promise<void>;
  list(uploadId: string): Promise<UploadPart[]>;
  removeAll(uploadId: string): Promise<void>;
}

export class SqlUploadPartRepository implements UploadPartRepository {
  constructor(private readonly sql: Sql) {}

  async record(uploadId: string, parts: UploadPart[]): Promise<void> {
    if (parts.length === 0) return;
    const values = parts.map(() => '(?, ?, ?, ?)').join(', ');
    // Only for sessions we know: a part that outlives its session (expired, removed) is not recorded.
    await this.sql.run(
      `INSERT INTO ${this.sql.table('upload_parts')} (upload_id, part_number, size, etag)
       SELECT v.upload_id, v.part_number::int, v.size::bigint, v.etag
       FROM (VALUES ${values}) AS v (upload_id, part_number, size, etag)
       WHERE EXISTS (SELECT 1 FROM ${this.sql.table('upload_sessions')} s WHERE s.id = v.upload_id)
       ON CONFLICT (upload_id, part_number) DO UPDATE SET size = EXCLUDED.size, etag = EXCLUDED.etag
       WHERE upload_parts.size <> EXCLUDED.size OR upload_parts.etag <> EXCLUDED.etag`,
      parts.flatMap((p) => [uploadId, p.partNumber, p.size, p.etag]),
    );
  }

  async list(uploadId: string): Promise<UploadPart[]> {
    const rows = await this.sql.all<{ part_number: number; size: string; etag: string }>(
      `SELECT part_number, size, etag FROM ${this.sql.table('upload_parts')} WHERE upload_id = ? ORDER BY part_number`,
      [uploadId],
    );
    return rows.map((r) => ({ partNumber: r.part_number, size: Number(r.size), etag: r.etag }));
  }

  async removeAll(uploadId: string): Promise<void> {
    await this.sql.run(`DELETE FROM ${this.sql.table('upload_parts')} WHERE upload_id = ?`, [uploadId]);
  }
}
