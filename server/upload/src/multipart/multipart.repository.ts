import type { MikroORM } from '@mikro-orm/postgresql';
import { UploadSessionSchema, type UploadSession } from '../session/upload-session.entity.ts';
import { newSessionRow, sessionInsert, type NewUploadSession } from '../session/upload-session.repository.ts';
import { MultipartPartSchema, MultipartUploadSchema } from './multipart.entity.ts';
import type { StoredPart } from './part-list.ts';

export type MultipartSession = UploadSession & { storeUploadId: string };

const IN_FLIGHT = ['created', 'uploading'] as const;

/** Multipart sessions: an upload session, its store upload id, and its recorded parts. */
export interface MultipartRepository {
  create(session: NewUploadSession, storeUploadId: string): Promise<MultipartSession>;
  find(uploadId: string): Promise<MultipartSession | null>;
  /** created → uploading, and the session counts as active now. */
  touch(uploadId: string): Promise<void>;
  /** Makes the recorded parts equal to `parts` (what the store holds). */
  syncParts(uploadId: string, parts: StoredPart[]): Promise<void>;
  recordPart(uploadId: string, part: StoredPart): Promise<void>;
  parts(uploadId: string): Promise<StoredPart[]>;
  /** In flight → aborted (parts forgotten); `idleSince`: only if nothing happened after it. */
  markAborted(uploadId: string, idleSince?: Date): Promise<boolean>;
  /**
   * Counts a resume of an upload in flight that holds recorded parts, when nothing has
   * happened for `afterGapSeconds` and no resume was counted since the last activity
   * (the tus rule: once per interruption). True if counted.
   */
  noteResume(uploadId: string, afterGapSeconds: number): Promise<boolean>;
  findIdle(idleSince: Date, limit: number): Promise<MultipartSession[]>;
}

export class MikroMultipartRepository implements MultipartRepository {
  constructor(private readonly orm: MikroORM) {}

  private get schema(): string {
    return this.orm.config.get('schema') as string;
  }

  private table(name: string): string {
    return `"${this.schema}".${name}`;
  }

  private async execute(sql: string, params: unknown[]): Promise<void> {
    await this.orm.em.getConnection().execute(sql, params as never[], 'run');
  }

  /**
   * The session and its store upload id in one statement, so that neither exists without
   * the other. Plain SQL, as every write here that would need a transaction: MikroORM's
   * flush and transactional run in an AsyncLocalStorage, which on Node 20 makes every
   * promise of the process slower from then on (see the session repository's create).
   */
  async create(session: NewUploadSession, storeUploadId: string): Promise<MultipartSession> {
    const row = newSessionRow(session);
    const insert = sessionInsert(this.schema, row);
    await this.execute(
      `WITH session AS (${insert.sql} RETURNING id)
       INSERT INTO ${this.table('multipart_uploads')} (session_id, store_upload_id) SELECT id, ? FROM session`,
      [...insert.params, storeUploadId],
    );
    return { ...row, storeUploadId };
  }

  async find(uploadId: string): Promise<MultipartSession | null> {
    const em = this.orm.em.fork();
    const [session, multipart] = await Promise.all([
      em.findOne(UploadSessionSchema, { id: uploadId, protocol: 'multipart' }),
      em.findOne(MultipartUploadSchema, { sessionId: uploadId }),
    ]);
    return session && multipart ? { ...session, storeUploadId: multipart.storeUploadId } : null;
  }

  async touch(uploadId: string): Promise<void> {
    await this.orm.em
      .fork()
      .nativeUpdate(UploadSessionSchema, { id: uploadId, state: { $in: [...IN_FLIGHT] } }, { state: 'uploading', updatedAt: new Date() });
  }

  async syncParts(uploadId: string, parts: StoredPart[]): Promise<void> {
    // One statement: the rows the store no longer holds go, the others are written as it holds them.
    await this.execute(
      `WITH held AS (SELECT * FROM jsonb_to_recordset(?::jsonb) AS p(part_number integer, size bigint, etag text)),
            gone AS (DELETE FROM ${this.table('upload_parts')} WHERE upload_id = ? AND part_number NOT IN (SELECT part_number FROM held))
       INSERT INTO ${this.table('upload_parts')} (upload_id, part_number, size, etag, created_at)
       SELECT ?, part_number, size, etag, now() FROM held
       ON CONFLICT (upload_id, part_number) DO UPDATE SET size = EXCLUDED.size, etag = EXCLUDED.etag, created_at = EXCLUDED.created_at`,
      [JSON.stringify(parts.map((p) => ({ part_number: p.partNumber, size: p.size, etag: p.etag }))), uploadId, uploadId],
    );
  }

  async recordPart(uploadId: string, part: StoredPart): Promise<void> {
    await this.upsert(this.orm.em.fork(), uploadId, [part]);
  }

  async parts(uploadId: string): Promise<StoredPart[]> {
    const rows = await this.orm.em.fork().find(MultipartPartSchema, { uploadId }, { orderBy: { partNumber: 'asc' } });
    return rows.map(({ partNumber, size, etag }) => ({ partNumber, size, etag }));
  }

  async markAborted(uploadId: string, idleSince?: Date): Promise<boolean> {
    const rows = await this.orm.em.getConnection().execute<Array<{ id: string }>>(
      `WITH aborted AS (
         UPDATE ${this.table('upload_sessions')} SET state = 'aborted', updated_at = now()
         WHERE id = ? AND state IN ('created', 'uploading') AND (?::timestamptz IS NULL OR updated_at < ?::timestamptz)
         RETURNING id
       ), forgotten AS (DELETE FROM ${this.table('upload_parts')} WHERE upload_id IN (SELECT id FROM aborted))
       SELECT id FROM aborted`,
      [uploadId, idleSince ?? null, idleSince ?? null] as never[],
      'all',
    );
    return rows.length > 0;
  }

  async noteResume(uploadId: string, afterGapSeconds: number): Promise<boolean> {
    const schema = `"${this.orm.config.get('schema')}"`;
    const result = await this.orm.em.getConnection().execute<{ affectedRows: number }>(
      `UPDATE ${schema}.upload_sessions s SET resume_count = resume_count + 1, last_resumed_at = now()
       WHERE s.id = ? AND s.protocol = 'multipart' AND s.state IN ('created', 'uploading')
         AND EXISTS (SELECT 1 FROM ${schema}.upload_parts p WHERE p.upload_id = s.id)
         AND (s.last_resumed_at IS NULL OR s.last_resumed_at < s.updated_at)
         AND s.updated_at <= now() - make_interval(secs => ?)`,
      [uploadId, afterGapSeconds],
      'run',
    );
    return result.affectedRows > 0;
  }

  async findIdle(idleSince: Date, limit: number): Promise<MultipartSession[]> {
    const em = this.orm.em.fork();
    const sessions = await em.find(
      UploadSessionSchema,
      { protocol: 'multipart', state: { $in: [...IN_FLIGHT] }, updatedAt: { $lt: idleSince } },
      { orderBy: { updatedAt: 'asc' }, limit },
    );
    if (sessions.length === 0) return [];
    const rows = await em.find(MultipartUploadSchema, { sessionId: { $in: sessions.map((s) => s.id) } });
    const storeIds = new Map(rows.map((r) => [r.sessionId, r.storeUploadId]));
    return sessions.filter((s) => storeIds.has(s.id)).map((s) => ({ ...s, storeUploadId: storeIds.get(s.id)! }));
  }

  private async upsert(em: ReturnType<MikroORM['em']['fork']>, uploadId: string, parts: StoredPart[]): Promise<void> {
    const now = new Date();
    await em.upsertMany(
      MultipartPartSchema,
      parts.map((p) => ({ uploadId, partNumber: p.partNumber, size: p.size, etag: p.etag, createdAt: now })),
      { onConflictFields: ['uploadId', 'partNumber'], onConflictAction: 'merge', onConflictMergeFields: ['size', 'etag', 'createdAt'] },
    );
  }
}
