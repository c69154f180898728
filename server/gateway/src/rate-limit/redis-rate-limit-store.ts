import { Redis } from 'ioredis';
import { currentWindow, type RateLimitStore, type WindowHit } from './rate-limit-store.ts';

// INCR and the expiry in one step: a crash between the two would leave a key that never expires.
const HIT = `local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count`;

/**
 * Counters in Redis, so several gateway instances share one budget. Keys are
 * `<prefix><key>:<window index>` and expire with their window.
 */
export class RedisRateLimitStore implements RateLimitStore {
  private readonly redis: Redis;

  constructor(
    url: string,
    private readonly prefix: string,
  ) {
    this.redis = new Redis(url, {
      // A slow or absent Redis must not hold requests for long: the limiter fails open.
      commandTimeout: 500,
      maxRetriesPerRequest: 1,
      connectTimeout: 2_000,
    });
    // Errors surface on the commands; without a listener ioredis would log every reconnect.
    this.redis.on('error', () => undefined);
  }

  async hit(key: string, windowMs: number): Promise<WindowHit> {
    const { index, resetMs } = currentWindow(windowMs);
    // A little longer than the window: clocks of gateways may differ slightly.
    const count = (await this.redis.eval(HIT, 1, `${this.prefix}${key}:${index}`, String(resetMs + 1_000))) as number;
    return { count, resetMs };
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}
