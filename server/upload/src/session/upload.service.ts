import { AppError, fileNameFrom, type Logger } from '@govault/lib';
import type { FileRegistry } from '../registration/file-registry.ts';
import type { RegistrationOutbox, RegistrationRefusal } from '../registration/outbox.repository.ts';
import { contentTypeFrom } from './file-name.ts';
import { declaredChecksum } from './metadata.ts';
import type { ConcatCreation, UploadSession } from './upload-session.entity.ts';
import type { UploadSessionRepository } from './upload-session.repository.ts';

export interface IncomingUpload {
  id: string;
  size: number | undefined;
  metadata: Record<string, string | null> | undefined;
}

export interface RegistrationPolicy {
  /** Longest wait between two registration attempts of one upload. */
  maxBackoffMs: number;
  /** Called once for each registration the files service refused for good, with its error code. */
  onRefused?(code: string): void;
}

/** What became of a completed upload's registration. */
export type Registration =
  | { state: 'registered'; fileId: string }
  /** The files service refused it for good; the bytes are kept for an operator to repair. */
  | { state: 'refused'; refusal: RegistrationRefusal }
  /** Not yet: the files service could not be reached; the outbox keeps trying. */
  | { state: 'pending' }
  /** Never: a partial upload's bytes become part of a final upload, not a file (tus concatenation). */
  | { state: 'partial' };

/**
 * Statuses of the files service that no retry of the same registration can change. Not
 * 408/425/429 (try again later), nor 401/403/404, which say that this deployment's keys
 * or routes are wrong (an operator's fix, after which the retries succeed), not that this
 * upload is. A 409 means the upload id is registered as a different file (another owner
 * or object): a repeat is answered 200 with the same file, never 409.
 */
const RETRIED_REFUSALS = new Set([401, 403, 404, 408, 425, 429]);
export function isFinalRefusal(err: unknown): err is AppError {
  return err instanceof AppError && err.status >= 400 && err.status < 500 && !RETRIED_REFUSALS.has(err.status);
}

/** Bytes complete, whatever became of the session since (terminated, expired). */
const bytesComplete = (session: UploadSession) => session.completedAt !== null && session.size !== null;

/** The upload rules behind every protocol: who owns an upload, and what finishing means. */
export class UploadService {
  constructor(
    private readonly sessions: UploadSessionRepository,
    private readonly registry: FileRegistry,
    private readonly logger: Logger,
    private readonly outbox: RegistrationOutbox,
    private readonly policy: RegistrationPolicy = { maxBackoffMs: 30_000 },
  ) {}

  /** A new tus upload; `concat` for the partial and final uploads of tus concatenation. */
  begin(upload: IncomingUpload, ownerId: string, concat?: ConcatCreation): Promise<UploadSession> {
    const metadata = upload.metadata ?? {};
    return this.sessions.create({
      concat: concat?.kind ?? null,
      concatParts: concat?.kind === 'final' ? concat.parts : null,
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

  /**
   * The offset a HEAD got from the store, which is the truth: recorded in both directions,
   * so that a record ahead of the store (bytes received but never persisted) is corrected.
   */
  async recordStoredOffset(uploadId: string, offset: number): Promise<void> {
    await this.sessions.recordProgress(uploadId, offset);
    await this.sessions.lowerOffsetTo(uploadId, offset);
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
   * tries it at once. Returns the session and what became of its registration: pending
   * when the files service cannot be reached (the outbox worker keeps trying, and so does
   * the next HEAD). `seen`: the session as this request read it before, if it did.
   */
  async finish(uploadId: string, size: number, requestId?: string, seen?: UploadSession): Promise<{ session?: UploadSession; registration: Registration }> {
    // Whether it is a partial never changes: a session this request has already read will do.
    if ((seen ?? (await this.sessions.find(uploadId)))?.concat === 'partial') {
      await this.sessions.markCompleted(uploadId, size);
      return { session: (await this.sessions.find(uploadId)) ?? undefined, registration: { state: 'partial' } };
    }
    await this.outbox.completeAndEnqueue(uploadId, size);
    const session = (await this.sessions.find(uploadId)) ?? undefined;
    return { session, registration: session ? await this.ensureRegistered(session, requestId) : { state: 'pending' } };
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
   * The file of a completed upload, registering it if that has not happened yet. Never
   * throws for an outage: the registration stays in the outbox and is retried with backoff.
   * A refused registration is not tried again.
   */
  async ensureRegistered(session: UploadSession, requestId?: string): Promise<Registration> {
    if (session.concat === 'partial') return { state: 'partial' };
    if (session.fileId) return { state: 'registered', fileId: session.fileId };
    if (!bytesComplete(session)) return { state: 'pending' };
    const refusal = await this.outbox.refusal(session.id).catch(() => undefined);
    if (refusal) return { state: 'refused', refusal };
    try {
      await this.outbox.enqueue(session.id);
    } catch (err) {
      this.logger.warn({ err, uploadId: session.id }, 'could not queue the registration');
    }
    return this.deliver(session, requestId);
  }

  /**
   * One registration attempt. A refusal that no retry can change marks the entry failed;
   * any other failure schedules it again.
   */
  async deliver(session: UploadSession, requestId?: string): Promise<Registration> {
    try {
      const file = await this.registry.register(
        {
          uploadId: session.id,
          ownerId: session.ownerId,
          name: session.filename,
          size: session.size!,
          contentType: session.contentType,
          storageKey: session.storageKey,
          checksum: declaredChecksum(session.metadata),
        },
        requestId,
      );
      await this.sessions.attachFile(session.id, file.id);
      await this.outbox.delivered(session.id);
      return { state: 'registered', fileId: file.id };
    } catch (err) {
      if (isFinalRefusal(err)) return { state: 'refused', refusal: await this.refuse(session.id, err) };
      await this.postpone(session.id, err);
      return { state: 'pending' };
    }
  }

  /**
   * The retry worker's step: delivers every due outbox entry; returns how many were
   * registered. `onAttempt` hears the outcome of each registration attempt.
   */
  async deliverDue(limit = 20, onAttempt?: (registration: Registration) => void): Promise<number> {
    let delivered = 0;
    for (const { uploadId } of await this.outbox.claimDue(limit, 30)) {
      const session = await this.sessions.find(uploadId);
      if (session?.fileId) await this.outbox.delivered(uploadId);
      else if (session) {
        const registration = await this.deliver(session);
        onAttempt?.(registration);
        if (registration.state === 'registered') delivered++;
      }
    }
    return delivered;
  }

  backlog(): Promise<number> {
    return this.outbox.backlog();
  }

  failedRegistrations(): Promise<number> {
    return this.outbox.failedCount();
  }

  /** Why the registration of a completed upload was refused, if it was. */
  refusalOf(uploadId: string): Promise<RegistrationRefusal | undefined> {
    return this.outbox.refusal(uploadId);
  }

  private async refuse(uploadId: string, err: AppError): Promise<RegistrationRefusal> {
    const refusal = { code: err.code, message: err.message };
    try {
      if (!(await this.outbox.markFailed(uploadId, refusal))) return refusal;
      this.policy.onRefused?.(refusal.code);
      this.logger.error({ err, uploadId }, 'the files service refused the registration; the upload is kept for an operator');
    } catch (dbErr) {
      this.logger.error({ err: dbErr, uploadId }, 'could not mark the refused registration');
    }
    return refusal;
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
