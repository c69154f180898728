import type { Sql } from '../storage/sql.ts';

/**
 * Finished uploads that still need their file registered. A row is written in the same
 * statement that marks the upload complete, and deleted once the files service has
 * answered; until then the retry worker keeps trying. Registration is idempotent on the
 * upload id, so a retry after a lost answer never makes a second file. A registration the
 * files service refused for good stays as a failed row: never retried, never counted in
 * the backlog, the reason kept for the owner and the operator.
 */
export interface RegistrationOutbox {
  /** Marks a session complete and queues its registration, atomically. */
  completeAndEnqueue(uploadId: string, size: number): Promise<void>;
  /**
   * A session still in flight (created or uploading) becomes completed with its
   * registration queued, in one statement; false when it was no longer in flight.
   */
  completeInFlightAndEnqueue(uploadId: string, size: number): Promise<boolean>;
  /** Queues a completed session (idempotent). */
  enqueue(uploadId: string): Promise<void>;
  /** Takes up to `limit` due entries for `leaseSeconds`, so that other instances skip them meanwhile. */
  claimDue(limit: number, leaseSeconds: number): Promise<Array<{ uploadId: string; attempts: number }>>;
  delivered(uploadId: string): Promise<void>;
  /** Schedules the next attempt with exponential backoff (1 s, 2 s, 4 s ... up to `maxBackoffMs`, with jitter). */
  retryLater(uploadId: string, maxBackoffMs: number, error: string): Promise<number>;
  /** The files service refused the registration for good: no more attempts. False if it was already marked. */
  markFailed(uploadId: string, refusal: RegistrationRefusal): Promise<boolean>;
  /** Why the registration of `uploadId` was refused, if it was. */
  refusal(uploadId: string): Promise<RegistrationRefusal | undefined>;
  /** Entries still waiting for an attempt (failed ones not included). */
  backlog(): Promise<number>;
  /** Entries the files service refused. */
  failedCount(): Promise<number>;
}

/** The files service's answer to a registration it will never accept as it is. */
export interface RegistrationRefusal {
  /** The error code of the files service (`validation_failed`, `conflict`, ...). */
  code: string;
  message: string;
}

/**
 * A new entry is first the request's own to try (it registers before it answers): the
 * retry worker leaves it alone this long, as if the request had claimed it.
 */
const FIRST_ATTEMPT_LEASE_SECONDS = 30;

export class SqlRegistrationOutbox implements RegistrationOutbox {
  private readonly outbox: string;
  private readonly sessions: string;

  constructor(private readonly sql: Sql) {
    this.outbox = sql.table('registration_outbox');
    this.sessions = sql.table('upload_sessions');
  }

  async completeAndEnqueue(uploadId: string, size: number): Promise<void> {
    // A session terminated (or expired) while its last bytes were being written keeps that
    // state, so that the upload stays forgotten; its file is registered all the same.
    await this.sql.run(
      `WITH done AS (
         UPDATE ${this.sessions} SET state = CASE WHEN state IN ('terminated', 'expired') THEN state ELSE 'completed' END, size = ?, upload_offset = ?, updated_at = now(), completed_at = coalesce(completed_at, now())
         WHERE id = ? RETURNING id, file_id
       )
       INSERT INTO ${this.outbox} (upload_id, next_attempt_at) SELECT id, now() + make_interval(secs => ${FIRST_ATTEMPT_LEASE_SECONDS}) FROM done WHERE file_id IS NULL
       ON CONFLICT (upload_id) DO NOTHING`,
      [size, size, uploadId],
    );
  }

  async completeInFlightAndEnqueue(uploadId: string, size: number): Promise<boolean> {
    const rows = await this.sql.all<{ id: string }>(
      `WITH done AS (
         UPDATE ${this.sessions} SET state = 'completed', size = ?, upload_offset = ?, updated_at = now(), completed_at = now()
         WHERE id = ? AND state IN ('created', 'uploading') RETURNING id, file_id
       ), queued AS (
         INSERT INTO ${this.outbox} (upload_id, next_attempt_at) SELECT id, now() + make_interval(secs => ${FIRST_ATTEMPT_LEASE_SECONDS}) FROM done WHERE file_id IS NULL
         ON CONFLICT (upload_id) DO NOTHING
       )
       SELECT id FROM done`,
      [size, size, uploadId],
    );
    return rows.length > 0;
  }

  async enqueue(uploadId: string): Promise<void> {
    await this.sql.run(
      `INSERT INTO ${this.outbox} (upload_id, next_attempt_at)
       SELECT id, now() + make_interval(secs => ${FIRST_ATTEMPT_LEASE_SECONDS}) FROM ${this.sessions} WHERE id = ? AND completed_at IS NOT NULL AND file_id IS NULL
       ON CONFLICT (upload_id) DO NOTHING`,
      [uploadId],
    );
  }

  async claimDue(limit: number, leaseSeconds: number): Promise<Array<{ uploadId: string; attempts: number }>> {
    const rows = await this.sql.all<{ upload_id: string; attempts: number }>(
      `UPDATE ${this.outbox} SET next_attempt_at = now() + make_interval(secs => ?)
       WHERE upload_id IN (
         SELECT upload_id FROM ${this.outbox} WHERE failed_at IS NULL AND next_attempt_at <= now()
         ORDER BY next_attempt_at LIMIT ? FOR UPDATE SKIP LOCKED
       )
       RETURNING upload_id, attempts`,
      [leaseSeconds, limit],
    );
    return rows.map((r) => ({ uploadId: r.upload_id, attempts: r.attempts }));
  }

  async delivered(uploadId: string): Promise<void> {
    await this.sql.run(`DELETE FROM ${this.outbox} WHERE upload_id = ?`, [uploadId]);
  }

  async retryLater(uploadId: string, maxBackoffMs: number, error: string): Promise<number> {
    const rows = await this.sql.all<{ attempts: number }>(
      `UPDATE ${this.outbox} SET attempts = attempts + 1, last_error = ?,
         next_attempt_at = now() + make_interval(secs => least(?::float8, power(2, least(attempts, 30))::float8) * (0.8 + random() * 0.4))
       WHERE upload_id = ? AND failed_at IS NULL RETURNING attempts`,
      [error.slice(0, 500), maxBackoffMs / 1000, uploadId],
    );
    return rows[0]?.attempts ?? 0;
  }

  async markFailed(uploadId: string, refusal: RegistrationRefusal): Promise<boolean> {
    const changed = await this.sql.run(
      `UPDATE ${this.outbox} SET attempts = attempts + 1, failed_at = now(), failure_code = ?, last_error = ?
       WHERE upload_id = ? AND failed_at IS NULL`,
      [refusal.code.slice(0, 100), refusal.message.slice(0, 500), uploadId],
    );
    return changed > 0;
  }

  async refusal(uploadId: string): Promise<RegistrationRefusal | undefined> {
    const rows = await this.sql.all<{ failure_code: string; last_error: string | null }>(
      `SELECT failure_code, last_error FROM ${this.outbox} WHERE upload_id = ? AND failed_at IS NOT NULL`,
      [uploadId],
    );
    const row = rows[0];
    return row ? { code: row.failure_code, message: row.last_error ?? row.failure_code } : undefined;
  }

  async backlog(): Promise<number> {
    const rows = await this.sql.all<{ n: number }>(`SELECT count(*)::int AS n FROM ${this.outbox} WHERE failed_at IS NULL`);
    return rows[0]?.n ?? 0;
  }

  async failedCount(): Promise<number> {
    const rows = await this.sql.all<{ n: number }>(`SELECT count(*)::int AS n FROM ${this.outbox} WHERE failed_at IS NOT NULL`);
    return rows[0]?.n ?? 0;
  }
}
