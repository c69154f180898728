import type { MikroORM } from '@mikro-orm/postgresql';
import { UploadSessionSchema, type UploadSession } from '../session/upload-session.entity.ts';
import type { NewUploadSession } from '../session/upload-session.repository.ts';
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

  async create(session: NewUploadSession, storeUploadId: string): Promise<MultipartSession> {
    const now = new Date();
    const row = { ...session, offset: 0, state: 'created' as const, fileId: null, createdAt: now, updatedAt: now, completedAt: null };
    // Through the unit of work, not em.insert: insert validates its data as query
    // parameters, and would choke on a metadata key such as "constructor".
    await this.orm.em.fork().transactional(async (em) => {
      em.create(UploadSessionSchema, row);
      await em.flush(); // the session first: the store id row refers to it
      em.create(MultipartUploadSchema, { sessionId: session.id, storeUploadId });
    });
    return (await this.find(session.id))!;
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
    await this.orm.em.fork().transactional(async (em) => {
      await em.nativeDelete(MultipartPartSchema, { uploadId, partNumber: { $nin: parts.map((p) => p.partNumber) } });
      if (parts.length > 0) await this.upsert(em, uploadId, parts);
    });
  }

  async recordPart(uploadId: string, part: StoredPart): Promise<void> {
    await this.upsert(this.orm.em.fork(), uploadId, [part]);
  }

  async parts(uploadId: string): Promise<StoredPart[]> {
    const rows = await this.orm.em.fork().find(MultipartPartSchema, { uploadId }, { orderBy: { partNumber: 'asc' } });
    return rows.map(({ partNumber, size, etag }) => ({ partNumber, size, etag }));
  }

  async markAborted(uploadId: string, idleSince?: Date): Promise<boolean> {
    return this.orm.em.fork().transactional(async (em) => {
      const where = { id: uploadId, state: { $in: [...IN_FLIGHT] }, ...(idleSince ? { updatedAt: { $lt: idleSince } } : {}) };
      const changed = await em.nativeUpdate(UploadSessionSchema, where, { state: 'aborted', updatedAt: new Date() });
      if (changed > 0) await em.nativeDelete(MultipartPartSchema, { uploadId });
      return changed > 0;
    });
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
