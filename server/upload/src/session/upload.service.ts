import type { Logger } from '@govault/lib';
import type { FileRegistry } from '../registration/file-registry.ts';
import { contentTypeFrom, fileNameFrom } from './file-name.ts';
import type { UploadSession } from './upload-session.entity.ts';
import type { UploadSessionRepository } from './upload-session.repository.ts';

export interface IncomingUpload {
  id: string;
  size: number | undefined;
  metadata: Record<string, string | null> | undefined;
}

/** The upload rules behind every protocol: who owns an upload, and what finishing means. */
export class UploadService {
  constructor(
    private readonly sessions: UploadSessionRepository,
    private readonly registry: FileRegistry,
    private readonly logger: Logger,
  ) {}

  begin(upload: IncomingUpload, ownerId: string): Promise<UploadSession> {
    const metadata = upload.metadata ?? {};
    return this.sessions.create({
      id: upload.id,
      ownerId,
      protocol: 'tus',
      filename: fileNameFrom(metadata.filename ?? metadata.name),
      contentType: contentTypeFrom(metadata.filetype ?? metadata.type),
      size: upload.size ?? null,
      storageKey: upload.id,
      metadata,
    });
  }

  /** The session if `userId` owns it; nothing otherwise, so that others cannot tell it exists. */
  async ownedBy(uploadId: string, userId: string | undefined): Promise<UploadSession | undefined> {
    const session = await this.sessions.find(uploadId);
    return session && userId && session.ownerId === userId ? session : undefined;
  }

  recordProgress(uploadId: string, offset: number): Promise<void> {
    return this.sessions.recordProgress(uploadId, offset);
  }

  terminate(uploadId: string): Promise<void> {
    return this.sessions.markTerminated(uploadId);
  }

  /**
   * Marks the upload complete and registers its file. Returns the file id, or undefined
   * when the files service cannot be reached: the upload stays complete and registration
   * is tried again on the next HEAD.
   */
  async finish(uploadId: string, size: number, requestId?: string): Promise<string | undefined> {
    await this.sessions.markCompleted(uploadId, size);
    const session = await this.sessions.find(uploadId);
    return session ? this.ensureRegistered(session, requestId) : undefined;
  }

  async ensureRegistered(session: UploadSession, requestId?: string): Promise<string | undefined> {
    if (session.fileId) return session.fileId;
    if (session.state !== 'completed' || session.size === null) return undefined;
    try {
      const file = await this.registry.register(
        {
          uploadId: session.id,
          ownerId: session.ownerId,
          name: session.filename,
          size: session.size,
          contentType: session.contentType,
          storageKey: session.storageKey,
        },
        requestId,
      );
      await this.sessions.attachFile(session.id, file.id);
      return file.id;
    } catch (err) {
      this.logger.warn({ err, uploadId: session.id, requestId }, 'file registration failed; will retry');
      return undefined;
    }
  }
}
