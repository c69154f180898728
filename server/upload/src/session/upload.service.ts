import { fileNameFrom, type Logger } from '@govault/lib';
import type { FileRegistry } from '../registration/file-registry.ts';
import type { RegistrationOutbox } from '../registration/outbox.repository.ts';
import { contentTypeFrom } from './file-name.ts';
import type { UploadSession } from './upload-session.entity.ts';
import type { UploadSessionRepository } from './upload-session.repository.ts';

export interface IncomingUpload {
  id: string;
  size: number | undefined;
  metadata: Record<string, string | null> | undefined;
}

export interface RegistrationPolicy {
  /** Longest wait between two registration attempts of one upload. */
  maxBackoffMs: number;
}

/** The upload rules behind every protocol: who owns an upload, and what finishing means. */
export class UploadService {
  constructor(
    private readonly sessions: UploadSessionRepository,
    private readonly registry: FileRegistry,
    private readonly logger: Logger,
    private readonly outbox: RegistrationOutbox,
    private readonly policy: RegistrationPolicy = { maxBackoffMs: 30_000 },
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

  /** True when this request resumes an interrupted upload (see "Resumed" in ARCHITECTURE.md). */
  noteResume(uploadId: string, afterGapSeconds: number): Promise<boolean> {
    return this.sessions.noteResume(uploadId, afterGapSeconds);
  }

  terminate(uploadId: string): Promise<void> {
    return this.sessions.markTerminated(uploadId);
  }

  /**
   * Marks the upload complete, queues its registration in the outbox (one statement), and
   * tries it at once. Returns the session and the file id, or no file id when the files
   * service cannot be reached: the outbox worker keeps trying, and so does the next HEAD.
   */
  async finish(uploadId: string, size: number, requestId?: string): Promise<{ session?: UploadSession; fileId?: string }> {
    await this.outbox.completeAndEnqueue(uploadId, size);
    const session = (await this.sessions.find(uploadId)) ?? undefined;
    return { session, fileId: session ? await this.ensureRegistered(session, requestId) : undefined };
  }

  /**
   * A direct multipart upload whose object the store has assembled: completed and queued
   * for registration in one statement, as `finish` does for tus, so a crash between the
   * two cannot leave a completed upload that nothing will register. False when it was no
   * longer in flight (aborted or completed by another request).
   */
  completeAssembled(uploadId: string, size: number): Promise<boolean> {
    return this.outbox.completeInFlightAndEnqueue(uploadId, size);
  }

  /**
   * The file of a completed upload, registering it if that has not happened yet. Returns
   * undefined when the files service cannot be reached right now (never throws for an
   * outage): the registration stays in the outbox and is retried with backoff.
   */
  async ensureRegistered(session: UploadSession, requestId?: string): Promise<string | undefined> {
    if (session.fileId) return session.fileId;
    if (session.state !== 'completed' || session.size === null) return undefined;
    try {
      await this.outbox.enqueue(session.id);
    } catch (err) {
      this.logger.warn({ err, uploadId: session.id }, 'could not queue the registration');
    }
    return this.deliver(session, requestId);
  }

  /** One registration attempt; on failure the outbox entry is scheduled again. */
  async deliver(session: UploadSession, requestId?: string): Promise<string | undefined> {
    try {
      const file = await this.registry.register(
        {
          uploadId: session.id,
          ownerId: session.ownerId,
          name: session.filename,
          size: session.size!,
          contentType: session.contentType,
          storageKey: session.storageKey,
        },
        requestId,
      );
      await this.sessions.attachFile(session.id, file.id);
      await this.outbox.delivered(session.id);
      return file.id;
    } catch (err) {
      await this.postpone(session.id, err);
      return undefined;
    }
  }

  /** The retry worker's step: delivers every due outbox entry; returns how many were registered. */
  async deliverDue(limit = 20): Promise<number> {
    let delivered = 0;
    for (const { uploadId } of await this.outbox.claimDue(limit, 30)) {
      const session = await this.sessions.find(uploadId);
      if (session?.fileId) await this.outbox.delivered(uploadId);
      else if (session && (await this.deliver(session))) delivered++;
    }
    return delivered;
  }

  backlog(): Promise<number> {
    return this.outbox.backlog();
  }

  private async postpone(uploadId: string, err: unknown): Promise<void> {
    try {
      const attempts = await this.outbox.retryLater(uploadId, this.policy.maxBackoffMs, String((err as Error)?.message ?? err));
      this.logger.warn({ err, uploadId, attempts }, 'file registration failed; queued for retry');
    } catch (dbErr) {
      this.logger.error({ err: dbErr, uploadId }, 'could not schedule the registration retry');
    }
  }
}
