import { createHash, randomUUID } from 'node:crypto';
import type { Lock, Locker, RequestRelease } from '@tus/server';
import pg from 'pg';
import type { Logger } from '@govault/lib';

const RELEASE_CHANNEL = 'govault_tus_lock_release';

export interface LockObserver {
  /** A request had to wait for another one to let go of the upload; seconds waited. */
  waited(seconds: number): void;
}

/** "The Server SHOULD ... respond with 423 Locked" is tusd's answer to a busy upload; tus-js-client retries it. */
export const uploadLocked = { status_code: 423, body: 'Upload is locked by another request, try again\n' };

/** How a lock is held on one kind of database; WaitingLock retries and waits on top of it. */
interface LockBackend<Held> {
  /** The lock, if it was free; `requestRelease` is how others ask this holder to let go. */
  tryAcquire(id: string, requestRelease: RequestRelease): Promise<Held | undefined>;
  askToRelease(id: string): Promise<void>;
  release(id: string, held: Held): Promise<void>;
  readonly timeoutMs: number;
  readonly observe: LockObserver;
}

/**
 * tus upload locks on PostgreSQL advisory locks, so that every upload instance on the
 * same database serializes requests to one upload (the model is Supabase Storage's
 * PgLocker). A lock is a session lock held on a pooled connection for the duration of
 * the request: if the process dies, PostgreSQL drops the session and the lock with it.
 * A request that finds the lock taken asks the holder, on whichever instance, to let go
 * (NOTIFY), as @tus/server's MemoryLocker does in one process; the holder's request then
 * stops reading its body after the drain timeout and releases.
 */
export class PgAdvisoryLocker implements Locker, LockBackend<pg.PoolClient> {
  private readonly holders = new Map<string, RequestRelease>();
  private listener: pg.Client | undefined;
  private closed = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly logger: Logger,
    private readonly observer: LockObserver,
    private readonly acquireTimeoutMs = 15_000,
  ) {
    // An idle connection that the database drops (a restart, a failover) is an 'error'
    // event on the pool; unheard, it would end the process.
    pool.on('error', (err) => logger.warn({ err }, 'an idle tus lock connection was lost'));
  }

  newLock(id: string): Lock {
    return new WaitingLock(id, this);
  }

  /** Starts listening for release requests from other instances. */
  async start(): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString() });
    client.on('notification', (message) => {
      if (message.payload) void this.holders.get(message.payload)?.();
    });
    client.on('error', (err) => {
      // A lost connection can report more than one error; one reconnection is enough.
      if (this.listener !== client) return;
      this.logger.warn({ err }, 'lock release listener lost its connection; reconnecting');
      this.listener = undefined;
      this.reconnectLater();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${RELEASE_CHANNEL}`);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    this.listener = client;
  }

  /** Until the database answers again: without the listener, no holder hears a release request. */
  private reconnectLater(): void {
    if (this.closed) return;
    setTimeout(() => void this.start().catch(() => this.reconnectLater()), 1_000).unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.listener?.end().catch(() => undefined);
    await this.pool.end();
  }

  /** @internal */
  async tryAcquire(id: string, requestRelease: RequestRelease): Promise<pg.PoolClient | undefined> {
    const client = await this.pool.connect();
    try {
      const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [lockKey(id)]);
      if (rows[0]?.ok) {
        this.holders.set(id, requestRelease);
        return client;
      }
      client.release();
      return undefined;
    } catch (err) {
      client.release(err as Error);
      throw err;
    }
  }

  /** @internal */
  async askToRelease(id: string): Promise<void> {
    await this.pool.query('SELECT pg_notify($1, $2)', [RELEASE_CHANNEL, id]);
  }

  /** @internal */
  async release(id: string, client: pg.PoolClient): Promise<void> {
    this.holders.delete(id);
    try {
      await client.query('SELECT pg_advisory_unlock($1)', [lockKey(id)]);
      client.release();
    } catch (err) {
      // Dropping the connection drops its session, and every lock of it.
      client.release(err as Error);
    }
  }

  /** @internal */
  get timeoutMs(): number {
    return this.acquireTimeoutMs;
  }

  /** @internal */
  get observe(): LockObserver {
    return this.observer;
  }

  private connectionString(): string {
    return (this.pool.options as { connectionString: string }).connectionString;
  }
}

/** A lease outlives a few missed renewals, and lapses well before a waiting request gives up (15 s). */
const LEASE_SECONDS = 10;
const RENEW_MS = 250;

/**
 * tus upload locks as leased rows, for embedded PGlite: it runs every connection in one
 * session, where an advisory lock excludes nothing and a NOTIFY reaches no other
 * connection, yet several upload processes may share it (and the disk). A holder renews
 * its leases, and reads the release requests of waiting requests, every RENEW_MS; a holder
 * that died stops renewing, and its lock is free once the lease lapses.
 */
export class LeaseLocker implements Locker, LockBackend<string> {
  private readonly held = new Map<string, { token: string; requestRelease: RequestRelease }>();
  private renewing: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly logger: Logger,
    private readonly observer: LockObserver,
    private readonly acquireTimeoutMs = 15_000,
    private readonly leaseSeconds = LEASE_SECONDS,
  ) {
    pool.on('error', (err) => logger.warn({ err }, 'an idle tus lock lease connection was lost'));
  }

  newLock(id: string): Lock {
    return new WaitingLock(id, this);
  }

  /** Leases that crashed processes left behind are no one's. */
  async start(): Promise<void> {
    await this.pool.query('DELETE FROM upload.tus_lock_leases WHERE expires_at < now()');
  }

  /** Leases still held lapse by themselves: a database that does not answer cannot hold up the shutdown. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.renewing);
    await Promise.race([this.pool.end(), new Promise((resolve) => setTimeout(resolve, 2_000).unref())]);
  }

  /** @internal */
  async tryAcquire(id: string, requestRelease: RequestRelease): Promise<string | undefined> {
    const token = randomUUID();
    const { rows } = await this.pool.query(
      `INSERT INTO upload.tus_lock_leases (upload_id, holder, expires_at) VALUES ($1, $2, now() + $3 * interval '1 second')
       ON CONFLICT (upload_id) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at, release_requested = false
       WHERE tus_lock_leases.expires_at < now()
       RETURNING holder`,
      [id, token, this.leaseSeconds],
    );
    if (rows.length === 0) return undefined;
    this.held.set(id, { token, requestRelease });
    this.renewSoon();
    return token;
  }

  /** @internal */
  async askToRelease(id: string): Promise<void> {
    void this.held.get(id)?.requestRelease(); // a holder in this process hears it at once
    await this.pool.query('UPDATE upload.tus_lock_leases SET release_requested = true WHERE upload_id = $1', [id]);
  }

  /** @internal */
  async release(id: string, token: string): Promise<void> {
    if (this.held.get(id)?.token === token) this.held.delete(id);
    // If this fails the lease lapses by itself.
    await this.pool
      .query('DELETE FROM upload.tus_lock_leases WHERE upload_id = $1 AND holder = $2', [id, token])
      .catch((err) => this.logger.warn({ err, uploadId: id }, 'tus lock lease not released; it will lapse'));
  }

  /** @internal */
  get timeoutMs(): number {
    return this.acquireTimeoutMs;
  }

  /** @internal */
  get observe(): LockObserver {
    return this.observer;
  }

  private renewSoon(): void {
    if (this.renewing || this.closed) return;
    this.renewing = setTimeout(() => void this.renew(), RENEW_MS);
    this.renewing.unref();
  }

  /** Extends every lease held here; a holder asked to let go, or whose lease was lost, is told to stop. */
  private async renew(): Promise<void> {
    const holders = [...this.held];
    try {
      const { rows } = await this.pool.query<{ holder: string; release_requested: boolean }>(
        `UPDATE upload.tus_lock_leases SET expires_at = now() + $2 * interval '1 second'
         WHERE holder = ANY($1::uuid[]) RETURNING holder, release_requested`,
        [holders.map(([, h]) => h.token), this.leaseSeconds],
      );
      for (const [id, holder] of holders) {
        if (this.held.get(id) !== holder) continue; // released meanwhile
        const row = rows.find((r) => r.holder === holder.token);
        if (!row || row.release_requested) void holder.requestRelease();
      }
    } catch (err) {
      this.logger.warn({ err }, 'tus lock leases not renewed; trying again');
    } finally {
      this.renewing = undefined;
      if (this.held.size > 0) this.renewSoon();
    }
  }
}

/** A lock taken through a backend: tried again with backoff, asking the holder each time, until the timeout. */
class WaitingLock<Held> implements Lock {
  private held: Held | undefined;

  constructor(
    private readonly id: string,
    private readonly backend: LockBackend<Held>,
  ) {}

  async lock(stopSignal: AbortSignal, requestRelease: RequestRelease): Promise<void> {
    const started = Date.now();
    let delay = 20;
    for (let attempt = 0; ; attempt++) {
      this.held = await this.backend.tryAcquire(this.id, requestRelease);
      if (this.held !== undefined) {
        if (attempt > 0) this.backend.observe.waited((Date.now() - started) / 1000);
        return;
      }
      await this.backend.askToRelease(this.id);
      if (stopSignal.aborted || Date.now() - started > this.backend.timeoutMs) throw uploadLocked;
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 250);
    }
  }

  async unlock(): Promise<void> {
    const held = this.held;
    this.held = undefined;
    if (held !== undefined) await this.backend.release(this.id, held);
  }
}

function lockKey(uploadId: string): string {
  return createHash('sha256').update(`govault-tus:${uploadId}`).digest().readBigInt64BE(0).toString();
}

/**
 * Whether advisory locks exclude each other on this database. They do on PostgreSQL;
 * embedded PGlite runs every connection in one session, where an advisory lock is
 * re-entrant and so excludes nothing.
 */
export async function advisoryLocksExclude(connectionString: string): Promise<boolean> {
  const [a, b] = [new pg.Client({ connectionString }), new pg.Client({ connectionString })];
  const key = lockKey(`probe-${randomUUID()}`);
  try {
    await a.connect();
    await b.connect();
    await a.query('SELECT pg_try_advisory_lock($1)', [key]);
    const { rows } = await b.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [key]);
    await a.query('SELECT pg_advisory_unlock_all()');
    await b.query('SELECT pg_advisory_unlock_all()');
    return rows[0]?.ok === false;
  } finally {
    await a.end().catch(() => undefined);
    await b.end().catch(() => undefined);
  }
}

export interface TusLocker {
  locker: Locker;
  kind: 'postgres-advisory' | 'lease';
  close(): Promise<void>;
}

/**
 * Advisory locks where the database can hold them; otherwise (embedded PGlite) leased rows
 * in `upload.tus_lock_leases` (migration 005), so that upload processes sharing the
 * embedded database still exclude each other.
 */
export async function createTusLocker(connectionString: string, logger: Logger, observer: LockObserver): Promise<TusLocker> {
  if (!(await advisoryLocksExclude(connectionString))) {
    const locker = new LeaseLocker(new pg.Pool({ connectionString, max: 4 }), logger, observer);
    await locker.start();
    return { locker, kind: 'lease', close: () => locker.close() };
  }
  const locker = new PgAdvisoryLocker(new pg.Pool({ connectionString, max: 25 }), logger, observer);
  await locker.start();
  return { locker, kind: 'postgres-advisory', close: () => locker.close() };
}
