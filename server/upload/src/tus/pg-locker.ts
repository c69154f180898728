import { createHash, randomUUID } from 'node:crypto';
import { MemoryLocker, type Lock, type Locker, type RequestRelease } from '@tus/server';
import pg from 'pg';
import type { Logger } from '@govault/lib';

const RELEASE_CHANNEL = 'govault_tus_lock_release';

export interface LockObserver {
  /** A request had to wait for another one to let go of the upload; seconds waited. */
  waited(seconds: number): void;
}

/** "The Server SHOULD ... respond with 423 Locked" is tusd's answer to a busy upload; tus-js-client retries it. */
export const uploadLocked = { status_code: 423, body: 'Upload is locked by another request, try again\n' };

/**
 * tus upload locks on PostgreSQL advisory locks, so that every upload instance on the
 * same database serializes requests to one upload (the model is Supabase Storage's
 * PgLocker). A lock is a session lock held on a pooled connection for the duration of
 * the request: if the process dies, PostgreSQL drops the session and the lock with it.
 * A request that finds the lock taken asks the holder, on whichever instance, to let go
 * (NOTIFY), as @tus/server's MemoryLocker does in one process; the holder's request then
 * stops reading its body after the drain timeout and releases.
 */
export class PgAdvisoryLocker implements Locker {
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
    return new PgAdvisoryLock(id, this);
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

class PgAdvisoryLock implements Lock {
  private client: pg.PoolClient | undefined;

  constructor(
    private readonly id: string,
    private readonly locker: PgAdvisoryLocker,
  ) {}

  async lock(stopSignal: AbortSignal, requestRelease: RequestRelease): Promise<void> {
    const started = Date.now();
    let delay = 20;
    for (let attempt = 0; ; attempt++) {
      this.client = await this.locker.tryAcquire(this.id, requestRelease);
      if (this.client) {
        if (attempt > 0) this.locker.observe.waited((Date.now() - started) / 1000);
        return;
      }
      await this.locker.askToRelease(this.id);
      if (stopSignal.aborted || Date.now() - started > this.locker.timeoutMs) throw uploadLocked;
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 250);
    }
  }

  async unlock(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) await this.locker.release(this.id, client);
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

/**
 * @tus/server's MemoryLocker, telling the observer of each request that found the lock
 * taken, as the advisory locker does (`govault_tus_lock_waits_total` in embedded mode too).
 */
class ObservedMemoryLocker implements Locker {
  private readonly inner = new MemoryLocker();

  constructor(private readonly observer: LockObserver) {}

  newLock(id: string): Lock {
    const lock = this.inner.newLock(id);
    const { inner, observer } = this;
    return {
      async lock(stopSignal, requestRelease) {
        const started = Date.now();
        const taken = inner.locks.has(id);
        await lock.lock(stopSignal, requestRelease);
        if (taken) observer.waited((Date.now() - started) / 1000);
      },
      unlock: () => lock.unlock(),
    };
  }
}

export interface TusLocker {
  locker: Locker;
  kind: 'postgres-advisory' | 'memory';
  close(): Promise<void>;
}

/**
 * The advisory locker where the database can hold one; otherwise (embedded PGlite, which
 * `npm start` runs with a single upload instance) @tus/server's in-process MemoryLocker.
 */
export async function createTusLocker(connectionString: string, logger: Logger, observer: LockObserver): Promise<TusLocker> {
  if (!(await advisoryLocksExclude(connectionString))) {
    logger.warn('advisory locks do not exclude on this database (embedded PGlite): tus locks are per process');
    return { locker: new ObservedMemoryLocker(observer), kind: 'memory', close: async () => undefined };
  }
  const locker = new PgAdvisoryLocker(new pg.Pool({ connectionString, max: 25 }), logger, observer);
  await locker.start();
  return { locker, kind: 'postgres-advisory', close: () => locker.close() };
}
