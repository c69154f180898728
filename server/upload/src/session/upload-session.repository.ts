import type { MikroORM } from '@mikro-orm/postgresql';
import { UploadSessionSchema, type UploadSession } from './upload-session.entity.ts';

export type NewUploadSession = Pick<
  UploadSession,
  'id' | 'ownerId' | 'protocol' | 'filename' | 'contentType' | 'size' | 'storageKey' | 'metadata'
> &
  Partial<Pick<UploadSession, 'concat' | 'concatParts'>>;

export interface UploadSessionRepository {
  create(session: NewUploadSession): Promise<UploadSession>;
  find(id: string): Promise<UploadSession | null>;
  recordProgress(id: string, offset: number): Promise<void>;
  /** Brings an in-flight upload's recorded offset down to what its store holds, if it is above. */
  lowerOffsetTo(id: string, stored: number): Promise<void>;
  /** An upload in flight becomes completed, with no registration (a partial's end). */
  markCompleted(id: string, size: number): Promise<void>;
  attachFile(id: string, fileId: string): Promise<void>;
  markTerminated(id: string): Promise<void>;
  /**
   * Counts a resume: a HEAD (`afterGapSeconds` 0) or PATCH on an incomplete upload that
   * already holds bytes, with no request since the last progress counted yet. True if counted.
   */
  noteResume(id: string, afterGapSeconds: number): Promise<boolean>;
  /**
   * tus uploads created before `createdBefore` that expire then, oldest first: incomplete
   * ones, and completed partials (whose bytes no file holds).
   */
  findExpired(createdBefore: Date, limit: number): Promise<UploadSession[]>;
  /** Marks an incomplete upload (or a completed partial) expired; false if it completed or ended meanwhile. */
  markExpired(id: string): Promise<boolean>;
  countInFlight(): Promise<number>;
  countInFlightByProtocol(): Promise<Record<UploadSession['protocol'], number>>;
  /**
   * Incomplete uploads past their expiry that no sweep has removed yet: tus counted from
   * creation, direct from the last activity (as the two sweeps take them).
   */
  countOverdue(expirySeconds: number): Promise<number>;
}

/** A session as created: nothing stored yet, no file. */
export function newSessionRow(session: NewUploadSession): UploadSession {
  const now = new Date();
  return { concat: null, concatParts: null, ...session, offset: 0, state: 'created', fileId: null, createdAt: now, updatedAt: now, completedAt: null };
}

/**
 * The INSERT of a new session in plain SQL (`?` placeholders), for the repositories that
 * add to it in the same statement. JSON columns go as text, so that no key of the
 * metadata is taken for anything but data.
 */
export function sessionInsert(schema: string, row: UploadSession): { sql: string; params: unknown[] } {
  return {
    sql: `INSERT INTO "${schema}".upload_sessions
       (id, owner_id, protocol, filename, content_type, size, upload_offset, state, storage_key, metadata, created_at, updated_at, concat, concat_parts)
     VALUES (?, ?, ?, ?, ?, ?, 0, 'created', ?, ?::jsonb, ?, ?, ?, ?::jsonb)`,
    params: [
      row.id,
      row.ownerId,
      row.protocol,
      row.filename,
      row.contentType,
      row.size,
      row.storageKey,
      JSON.stringify(row.metadata),
      row.createdAt,
      row.updatedAt,
      row.concat,
      row.concatParts === null ? null : JSON.stringify(row.concatParts),
    ],
  };
}

export class MikroUploadSessionRepository implements UploadSessionRepository {
  constructor(private readonly orm: MikroORM) {}

  /**
   * One INSERT in plain SQL, not the unit of work: `em.flush()` runs inside an
   * AsyncLocalStorage, and on Node 20 the first one turns on async hooks for the rest of
   * the process, which then pays for every promise it makes (a tenth of the upload
   * service's CPU in a profile of small tus uploads). Not `em.insert` either: it takes
   * the metadata object's keys as query parameters and chokes on one named "constructor".
   */
  async create(session: NewUploadSession): Promise<UploadSession> {
    const row = newSessionRow(session);
    const insert = sessionInsert(this.orm.config.get('schema') as string, row);
    await this.orm.em.getConnection().execute(insert.sql, insert.params as never[], 'run');
    return row;
  }

  find(id: string): Promise<UploadSession | null> {
    return this.orm.em.fork().findOne(UploadSessionSchema, { id });
  }

  async recordProgress(id: string, offset: number): Promise<void> {
    // Progress only moves forward; a late event from an earlier PATCH must not undo it.
    await this.orm.em
      .fork()
      .nativeUpdate(
        UploadSessionSchema,
        { id, state: { $in: ['created', 'uploading'] }, offset: { $lt: offset } },
        { offset, state: 'uploading', updatedAt: new Date() },
      );
  }

  async lowerOffsetTo(id: string, stored: number): Promise<void> {
    // A correction, not activity: updated_at (last activity, and the resume gap) stays.
    await this.orm.em
      .fork()
      .nativeUpdate(UploadSessionSchema, { id, state: { $in: ['created', 'uploading'] }, offset: { $gt: stored } }, { offset: stored });
  }

  async markCompleted(id: string, size: number): Promise<void> {
    const now = new Date();
    await this.orm.em
      .fork()
      .nativeUpdate(UploadSessionSchema, { id, state: { $in: ['created', 'uploading'] } }, { state: 'completed', size, offset: size, updatedAt: now, completedAt: now });
  }

  async attachFile(id: string, fileId: string): Promise<void> {
    await this.orm.em.fork().nativeUpdate(UploadSessionSchema, { id }, { fileId, updatedAt: new Date() });
  }

  async markTerminated(id: string): Promise<void> {
    await this.orm.em.fork().nativeUpdate(UploadSessionSchema, { id }, { state: 'terminated', updatedAt: new Date() });
  }

  async noteResume(id: string, afterGapSeconds: number): Promise<boolean> {
    const table = `"${this.orm.config.get('schema')}".upload_sessions`;
    const result = await this.orm.em.getConnection().execute<{ affectedRows: number }>(
      `UPDATE ${table} SET resume_count = resume_count + 1, last_resumed_at = now()
       WHERE id = ? AND state IN ('created', 'uploading') AND upload_offset > 0
         AND (last_resumed_at IS NULL OR last_resumed_at < updated_at)
         AND updated_at <= now() - make_interval(secs => ?)`,
      [id, afterGapSeconds],
      'run',
    );
    return result.affectedRows > 0;
  }

  findExpired(createdBefore: Date, limit: number): Promise<UploadSession[]> {
    return this.orm.em
      .fork()
      .find(
        UploadSessionSchema,
        { protocol: 'tus', createdAt: { $lt: createdBefore }, $or: [{ state: { $in: ['created', 'uploading'] } }, { state: 'completed', concat: 'partial' }] },
        { orderBy: { createdAt: 'asc' }, limit },
      );
  }

  async markExpired(id: string): Promise<boolean> {
    const changed = await this.orm.em
      .fork()
      .nativeUpdate(
        UploadSessionSchema,
        { id, $or: [{ state: { $in: ['created', 'uploading'] } }, { state: 'completed', concat: 'partial' }] },
        { state: 'expired', updatedAt: new Date() },
      );
    return changed > 0;
  }

  countInFlight(): Promise<number> {
    return this.orm.em.fork().count(UploadSessionSchema, { state: { $in: ['created', 'uploading'] } });
  }

  async countInFlightByProtocol(): Promise<Record<UploadSession['protocol'], number>> {
    const em = this.orm.em.fork();
    const [tus, multipart] = await Promise.all(
      (['tus', 'multipart'] as const).map((protocol) => em.count(UploadSessionSchema, { protocol, state: { $in: ['created', 'uploading'] } })),
    );
    return { tus: tus!, multipart: multipart! };
  }

  async countOverdue(expirySeconds: number): Promise<number> {
    const before = new Date(Date.now() - expirySeconds * 1000);
    const em = this.orm.em.fork();
    const inFlight = { state: { $in: ['created', 'uploading'] as UploadSession['state'][] } };
    const [tus, multipart] = await Promise.all([
      em.count(UploadSessionSchema, { ...inFlight, protocol: 'tus', createdAt: { $lt: before } }),
      em.count(UploadSessionSchema, { ...inFlight, protocol: 'multipart', updatedAt: { $lt: before } }),
    ]);
    return tus + multipart;
  }
}
