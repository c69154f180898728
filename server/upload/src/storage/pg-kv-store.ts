import type { KvStore } from '@tus/server';
import type { Sql } from './sql.ts';

/**
 * @tus/s3-store's info cache in the upload database instead of process memory, so that
 * every upload instance sees the same upload info (length declared later, completion).
 */
export class PgKvStore<T> implements KvStore<T> {
  constructor(private readonly sql: Sql) {}

  async get(key: string): Promise<T | undefined> {
    const rows = await this.sql.all<{ value: T }>(`SELECT value FROM ${this.sql.table('tus_store_state')} WHERE key = ?`, [key]);
    return rows[0]?.value;
  }

  async set(key: string, value: T): Promise<void> {
    await this.sql.run(
      `INSERT INTO ${this.sql.table('tus_store_state')} (key, value) VALUES (?, ?::jsonb)
       ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`,
      [key, JSON.stringify(value)],
    );
  }

  async delete(key: string): Promise<void> {
    await this.sql.run(`DELETE FROM ${this.sql.table('tus_store_state')} WHERE key = ?`, [key]);
  }
}
