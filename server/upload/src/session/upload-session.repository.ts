import type { MikroORM } from '@mikro-orm/postgresql';
import { UploadSessionSchema, type UploadSession } from './upload-session.entity.ts';

export type NewUploadSession = Pick<
  UploadSession,
  'id' | 'ownerId' | 'protocol' | 'filename' | 'contentType' | 'size' | 'storageKey' | 'metadata'
>;

export interface UploadSessionRepository {
  create(session: NewUploadSession): Promise<UploadSession>;
  find(id: string): Promise<UploadSession | null>;
  recordProgress(id: string, offset: number): Promise<void>;
  markCompleted(id: string, size: number): Promise<void>;
  attachFile(id: string, fileId: string): Promise<void>;
  markTerminated(id: string): Promise<void>;
}

export class MikroUploadSessionRepository implements UploadSessionRepository {
  constructor(private readonly orm: MikroORM) {}

  async create(session: NewUploadSession): Promise<UploadSession> {
    const em = this.orm.em.fork();
    const now = new Date();
    const row = em.create(UploadSessionSchema, {
      ...session,
      offset: 0,
      state: 'created',
      fileId: null,
      createdAt: now,
      updatedAt: now,
      completedAt: null,
    });
    await em.flush();
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

  async markCompleted(id: string, size: number): Promise<void> {
    const now = new Date();
    await this.orm.em
      .fork()
      .nativeUpdate(UploadSessionSchema, { id }, { state: 'completed', size, offset: size, updatedAt: now, completedAt: now });
  }

  async attachFile(id: string, fileId: string): Promise<void> {
    await this.orm.em.fork().nativeUpdate(UploadSessionSchema, { id }, { fileId, updatedAt: new Date() });
  }

  async markTerminated(id: string): Promise<void> {
    await this.orm.em.fork().nativeUpdate(UploadSessionSchema, { id }, { state: 'terminated', updatedAt: new Date() });
  }
}
