import type { MikroORM } from '@mikro-orm/postgresql';

export interface QueuedDeletion {
  storageKey: string;
  attempts: number;
}

/** The queue of objects whose file row is gone (filled by FileRepository.deletePermanently/purge). */
export interface ObjectDeletionRepository {
  /**
   * Takes up to `limit` due deletions and leases them until `leaseUntil`, so that another
   * instance does not work on them at the same time.
   */
  claimDue(limit: number, leaseUntil: Date): Promise<QueuedDeletion[]>;
  done(storageKey: string): Promise<void>;
  failed(storageKey: string, error: string, retryAt: Date): Promise<void>;
  pending(): Promise<QueuedDeletion[]>;
}

type Row = Record<string, unknown>;

export class MikroOrmObjectDeletionRepository implements ObjectDeletionRepository {
  constructor(private readonly orm: MikroORM) {}

  async claimDue(limit: number, leaseUntil: Date): Promise<QueuedDeletion[]> {
    const rows = await this.query(
      `UPDATE files.object_deletions SET next_attempt_at = ?
       WHERE storage_key IN (SELECT storage_key FROM files.object_deletions WHERE next_attempt_at <= now()
                             ORDER BY next_attempt_at LIMIT ? FOR UPDATE SKIP LOCKED)
       RETURNING storage_key, attempts`,
      [leaseUntil, limit],
    );
    return rows.map(toDeletion);
  }

  async done(storageKey: string): Promise<void> {
    await this.query('DELETE FROM files.object_deletions WHERE storage_key = ?', [storageKey]);
  }

  async failed(storageKey: string, error: string, retryAt: Date): Promise<void> {
    await this.query(
      'UPDATE files.object_deletions SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE storage_key = ?',
      [error.slice(0, 1000), retryAt, storageKey],
    );
  }

  async pending(): Promise<QueuedDeletion[]> {
    return (await this.query('SELECT storage_key, attempts FROM files.object_deletions ORDER BY next_attempt_at', [])).map(toDeletion);
  }

  private query(sql: string, params: unknown[]): Promise<Row[]> {
    return this.orm.em.getConnection().execute<Row[]>(sql, params, 'all');
  }
}

const toDeletion = (row: Row): QueuedDeletion => ({ storageKey: row.storage_key as string, attempts: Number(row.attempts) });
