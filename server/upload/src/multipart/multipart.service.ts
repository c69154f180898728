import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { AppError, conflict, fileNameFrom, notFound, payloadTooLarge, validationFailed, type Logger } from '@govault/lib';
import { contentTypeFrom } from '../session/file-name.ts';
import type { RegistrationRefusal } from '../registration/outbox.repository.ts';
import type { UploadService } from '../session/upload.service.ts';
import type { DIRECT_FAILURES, ModeMetrics } from '../tus/tus-metrics.ts';
import type { MultipartStore, MultipartTarget, PartSink } from './multipart-store.ts';
import type { MultipartRepository, MultipartSession } from './multipart.repository.ts';
import { MAX_PART_SIZE, partSizeGuidance, verifyPartList, type ClaimedPart, type PartSizeGuidance, type StoredPart } from './part-list.ts';

export interface NewMultipartUpload {
  filename?: string;
  type?: string;
  metadata: Record<string, string | null>;
  /** Optional: lets the service refuse a file over the maximum before any byte is sent. */
  size?: number;
}

export interface CreatedMultipartUpload extends PartSizeGuidance {
  key: string;
  uploadId: string;
}

/** `location` and `fileId` are absent only when the files service cannot be reached now (repeat the call). */
export interface CompletedMultipartUpload {
  key: string;
  location?: string;
  fileId?: string;
}

export interface MultipartLimits {
  maxUploadSize: number;
  urlTtlSeconds: number;
  /** A list-parts this long after the upload's last activity is a resume (tus's PATCH rule). */
  resumeGapSeconds: number;
}

export type DirectUploadMetrics = ModeMetrics<(typeof DIRECT_FAILURES)[number]>;

const inFlight = (session: MultipartSession | null) => session?.state === 'created' || session?.state === 'uploading';

const targetOf = (session: MultipartSession): MultipartTarget => ({
  uploadId: session.id,
  key: session.storageKey,
  storeUploadId: session.storeUploadId,
});
const gone = () => new AppError('not_found', 404, 'upload not found (aborted)');
/**
 * The files service refused the file for good: no repeat of `complete` can change that, so
 * the answer is its 4xx, not a 200 without a file. The object is kept for an operator.
 */
const registrationRefused = (refusal: RegistrationRefusal) =>
  new AppError('conflict', 409, `the upload is complete but the files service refused the file (${refusal.code}: ${refusal.message}); its bytes are kept`, {
    registration: { state: 'failed', code: refusal.code, message: refusal.message },
  });

/**
 * The rules of direct multipart uploads: the owner alone may touch a session; the key
 * must be the session's own; parts are checked against the store before it completes;
 * a completed upload becomes a file through the same registration as tus.
 */
export class MultipartService {
  private readonly completing = new Map<string, Promise<unknown>>();

  constructor(
    private readonly repository: MultipartRepository,
    private readonly store: MultipartStore,
    private readonly uploads: UploadService,
    private readonly limits: MultipartLimits,
    private readonly logger: Logger,
    private readonly metrics: DirectUploadMetrics,
    private readonly partSink?: PartSink,
  ) {}

  async create(ownerId: string, input: NewMultipartUpload): Promise<CreatedMultipartUpload> {
    if (input.size !== undefined && input.size > this.limits.maxUploadSize) {
      throw payloadTooLarge(`the file has ${input.size} bytes; the maximum file size is ${this.limits.maxUploadSize} bytes`);
    }
    const uploadId = randomUUID().replaceAll('-', '');
    const key = uploadId;
    const contentType = contentTypeFrom(input.type ?? input.metadata.type ?? input.metadata.filetype);
    const storeUploadId = await this.store.create(uploadId, key, contentType);
    await this.repository.create(
      {
        id: uploadId,
        ownerId,
        protocol: 'multipart',
        filename: fileNameFrom(input.filename ?? input.metadata.name ?? input.metadata.filename),
        contentType,
        size: input.size ?? null,
        storageKey: key,
        metadata: input.metadata,
      },
      storeUploadId,
    );
    this.metrics.created.inc();
    return { key, uploadId, ...partSizeGuidance(this.limits.maxUploadSize, input.size) };
  }

  async signPart(ownerId: string, uploadId: string, key: string, partNumber: number, origin: string) {
    const session = await this.inFlight(ownerId, uploadId, key);
    const url = await this.store.partUrl(targetOf(session), partNumber, origin);
    if (session.state === 'created') await this.repository.touch(uploadId);
    return { url, expires: this.limits.urlTtlSeconds };
  }

  async signBatch(ownerId: string, uploadId: string, key: string, partNumbers: number[], origin: string) {
    const session = await this.inFlight(ownerId, uploadId, key);
    const presignedUrls: Record<string, string> = {};
    for (const partNumber of partNumbers) presignedUrls[partNumber] = await this.store.partUrl(targetOf(session), partNumber, origin);
    await this.repository.touch(uploadId);
    return { presignedUrls };
  }

  /** The resume call: what the store holds, which also brings the recorded parts up to date. */
  async listParts(ownerId: string, uploadId: string, key: string): Promise<StoredPart[]> {
    const session = await this.inFlight(ownerId, uploadId, key);
    const parts = await this.storedParts(session);
    await this.repository.syncParts(uploadId, parts);
    // Before the touch: the gap is counted from the activity before this call.
    if (parts.length > 0 && (await this.repository.noteResume(uploadId, this.limits.resumeGapSeconds).catch(() => false))) this.metrics.resumed.inc();
    await this.repository.touch(uploadId);
    return parts;
  }

  /**
   * The bytes a direct upload in flight holds, as the store lists them, recorded on the
   * way (in S3 mode parts go straight to S3, so nothing else records them). Undefined when
   * the upload is no longer in flight. Not activity: the upload's expiry is unchanged.
   */
  async storedBytes(uploadId: string): Promise<number | undefined> {
    const session = await this.repository.find(uploadId);
    if (!session || (session.state !== 'created' && session.state !== 'uploading')) return undefined;
    const parts = await this.store.listParts(targetOf(session));
    if (!parts) return undefined;
    await this.repository.syncParts(uploadId, parts);
    return parts.reduce((sum, part) => sum + part.size, 0);
  }

  /** Idempotent: completing a completed upload answers the same file (registering it if files was away). */
  complete(ownerId: string, uploadId: string, key: string, claimed: ClaimedPart[], origin: string, requestId?: string) {
    return this.oneAtATime(uploadId, async (): Promise<CompletedMultipartUpload> => {
      let session = await this.owned(ownerId, uploadId, key);
      if (session.state !== 'completed') {
        if (!inFlight(session)) throw gone();
        const size = await this.assemble(session, claimed).catch(async (err) => {
          const now = await this.repository.find(uploadId);
          // Another instance may have completed it in the meantime: then this is a retry.
          if (now?.state === 'completed') return undefined;
          // Refused parts (4xx) or the store failing; an upload aborted meanwhile is no failure of this one.
          if (!(err instanceof AppError)) this.metrics.failed('storage');
          else if (err.status !== 404 || inFlight(now)) this.metrics.failed('parts');
          throw err;
        });
        if (size !== undefined) {
          this.metrics.completed.inc();
          this.metrics.bytesReceived.inc(size);
          this.metrics.duration.observe((Date.now() - session.createdAt.getTime()) / 1000);
        }
        session = (await this.repository.find(uploadId))!;
      }
      const registration = await this.uploads.ensureRegistered(session, requestId);
      if (registration.state === 'refused') throw registrationRefused(registration.refusal);
      if (registration.state !== 'registered') return { key };
      return { location: `${origin}/api/files/${registration.fileId}`, key, fileId: registration.fileId };
    });
  }

  async abort(ownerId: string, uploadId: string, key: string): Promise<Record<string, never>> {
    const session = await this.owned(ownerId, uploadId, key);
    if (session.state === 'completed') throw conflict('the upload is complete; delete the file instead');
    await this.store.abort(targetOf(session));
    if (await this.repository.markAborted(uploadId)) this.metrics.terminated.inc();
    return {};
  }

  /**
   * Embedded mode: the body of one part, sent to a signed URL (the signature, checked by
   * the route, stands in for the owner's token).
   */
  async receivePart(uploadId: string, partNumber: number, body: Readable): Promise<StoredPart> {
    const session = await this.repository.find(uploadId);
    if (!session || !this.partSink) throw notFound('upload');
    if (session.state !== 'created' && session.state !== 'uploading') throw gone();
    const part = await this.partSink.writePart(uploadId, partNumber, body, Math.min(MAX_PART_SIZE, this.limits.maxUploadSize));
    if (!part) throw gone();
    await this.repository.recordPart(uploadId, part);
    await this.repository.touch(uploadId);
    return part;
  }

  /** The cleanup job: aborts multipart uploads with no activity since `idleSince`. */
  async sweepAbandoned(idleSince: Date, limit = 100): Promise<number> {
    let aborted = 0;
    for (const session of await this.repository.findIdle(idleSince, limit)) {
      try {
        await this.store.abort(targetOf(session));
        if (await this.repository.markAborted(session.id, idleSince)) {
          this.metrics.expired.inc();
          aborted++;
        }
      } catch (err) {
        this.logger.warn({ err, uploadId: session.id }, 'could not abort an abandoned multipart upload');
      }
    }
    if (aborted > 0) this.logger.info({ aborted }, 'abandoned multipart uploads aborted');
    return aborted;
  }

  /** Checks the claimed parts against the store, has it assemble them, and records the completion; the object's size. */
  private async assemble(session: MultipartSession, claimed: ClaimedPart[]): Promise<number> {
    const parts = verifyPartList(claimed, await this.storedParts(session), this.limits.maxUploadSize);
    const expected = parts.reduce((sum, part) => sum + part.size, 0);
    const size = await this.store.complete(targetOf(session), parts);
    if (size !== expected) {
      await this.store.discardObject(session.storageKey).catch(() => undefined);
      await this.repository.markAborted(session.id);
      throw conflict(`the assembled object has ${size} bytes instead of ${expected}; the upload was aborted`);
    }
    await this.repository.syncParts(session.id, parts);
    if (!(await this.uploads.completeAssembled(session.id, size))) throw gone();
    return size;
  }

  private async storedParts(session: MultipartSession): Promise<StoredPart[]> {
    const parts = await this.store.listParts(targetOf(session));
    if (!parts) throw new AppError('not_found', 404, 'upload not found in storage (expired or aborted)');
    return parts;
  }

  /** Someone else's upload is answered exactly like one that does not exist. */
  private async owned(ownerId: string, uploadId: string, key: string): Promise<MultipartSession> {
    const session = await this.repository.find(uploadId);
    if (!session || session.ownerId !== ownerId) throw notFound('upload');
    if (session.storageKey !== key) throw validationFailed('key does not belong to this upload');
    return session;
  }

  private async inFlight(ownerId: string, uploadId: string, key: string): Promise<MultipartSession> {
    const session = await this.owned(ownerId, uploadId, key);
    if (session.state === 'completed') throw conflict('the upload is already complete');
    if (session.state !== 'created' && session.state !== 'uploading') throw gone();
    return session;
  }

  /** Completes of one upload in this process run one after another (a retry waits for the first). */
  private async oneAtATime<T>(uploadId: string, work: () => Promise<T>): Promise<T> {
    const before = this.completing.get(uploadId) ?? Promise.resolve();
    const run = before.catch(() => undefined).then(work);
    this.completing.set(uploadId, run);
    try {
      return await run;
    } finally {
      if (this.completing.get(uploadId) === run) this.completing.delete(uploadId);
    }
  }
}
