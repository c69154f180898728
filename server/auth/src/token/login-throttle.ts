import { normalizeEmail } from '@govault/lib';
import type { MikroORM } from '@mikro-orm/postgresql';

export interface LoginThrottlePolicy {
  /** Failed logins allowed per email within the window; the next attempt waits for the window to end. */
  maxFailures: number;
  windowSeconds: number;
}

/**
 * Failed logins per email. Keyed by normalizeEmail(email), the key users are stored and
 * looked up by, so every spelling that reaches an account counts against it; whether a
 * user has it or not: a throttled unknown email and a throttled real one look the same.
 */
export interface LoginThrottle {
  /** Seconds until the email may try again, 0 when it may try now. */
  retryAfter(email: string): Promise<number>;
  recordFailure(email: string): Promise<void>;
  reset(email: string): Promise<void>;
}

const keyOf = normalizeEmail;

/** In memory: for unit tests, and the reference the PostgreSQL one is tested against. */
export class MemoryLoginThrottle implements LoginThrottle {
  private readonly rows = new Map<string, { failures: number; startedAt: number }>();

  constructor(
    private readonly policy: LoginThrottlePolicy,
    private readonly now: () => number = Date.now,
  ) {}

  async retryAfter(email: string): Promise<number> {
    const row = this.rows.get(keyOf(email));
    if (!row || row.failures < this.policy.maxFailures) return 0;
    return Math.max(0, Math.ceil((row.startedAt + this.policy.windowSeconds * 1000 - this.now()) / 1000));
  }

  async recordFailure(email: string): Promise<void> {
    const key = keyOf(email);
    const row = this.rows.get(key);
    if (!row || row.startedAt + this.policy.windowSeconds * 1000 <= this.now()) {
      this.rows.set(key, { failures: 1, startedAt: this.now() });
    } else row.failures++;
  }

  async reset(email: string): Promise<void> {
    this.rows.delete(keyOf(email));
  }
}

/** In the auth database, so every auth instance (and a restart) sees the same count. */
export class PostgresLoginThrottle implements LoginThrottle {
  constructor(
    private readonly orm: MikroORM,
    private readonly policy: LoginThrottlePolicy,
  ) {}

  async retryAfter(email: string): Promise<number> {
    const rows = await this.orm.em.getConnection().execute<Array<{ wait: string | number }>>(
      `SELECT ceil(extract(epoch FROM window_started_at + make_interval(secs => ?) - now())) AS wait
         FROM auth.login_failures
        WHERE email_key = ? AND failures >= ? AND window_started_at + make_interval(secs => ?) > now()`,
      [this.policy.windowSeconds, keyOf(email), this.policy.maxFailures, this.policy.windowSeconds],
    );
    return rows[0] ? Math.max(1, Number(rows[0].wait)) : 0;
  }

  async recordFailure(email: string): Promise<void> {
    const expired = 'login_failures.window_started_at + make_interval(secs => ?) <= now()';
    await this.orm.em.getConnection().execute(
      `INSERT INTO auth.login_failures AS login_failures (email_key, failures, window_started_at) VALUES (?, 1, now())
       ON CONFLICT (email_key) DO UPDATE SET
         failures = CASE WHEN ${expired} THEN 1 ELSE login_failures.failures + 1 END,
         window_started_at = CASE WHEN ${expired} THEN now() ELSE login_failures.window_started_at END`,
      [keyOf(email), this.policy.windowSeconds, this.policy.windowSeconds],
      'run',
    );
    // Now and then forget finished windows, so that guessed emails do not pile up.
    if (Math.random() < 0.01) {
      await this.orm.em
        .getConnection()
        .execute('DELETE FROM auth.login_failures WHERE window_started_at + make_interval(secs => ?) <= now()', [this.policy.windowSeconds], 'run');
    }
  }

  async reset(email: string): Promise<void> {
    await this.orm.em.getConnection().execute('DELETE FROM auth.login_failures WHERE email_key = ?', [keyOf(email)], 'run');
  }
}
