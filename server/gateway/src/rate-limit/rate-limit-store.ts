/** One request counted in a fixed window. */
export interface WindowHit {
  /** Requests counted for the key in the current window, this one included. */
  count: number;
  /** Milliseconds until the window ends and the count starts over. */
  resetMs: number;
}

/**
 * Fixed-window counters. Windows are aligned to the clock (floor(now / window)), so every
 * gateway that shares a store agrees on where a window starts and ends.
 */
export interface RateLimitStore {
  hit(key: string, windowMs: number): Promise<WindowHit>;
  close(): Promise<void>;
}

export function currentWindow(windowMs: number, now = Date.now()): { index: number; resetMs: number } {
  const index = Math.floor(now / windowMs);
  return { index, resetMs: (index + 1) * windowMs - now };
}

/** The default store: counters in this process's memory; one gateway, one budget. */
export class MemoryRateLimitStore implements RateLimitStore {
  private readonly counters = new Map<string, { count: number; expiresAt: number }>();
  private nextSweep = 0;

  constructor(private readonly now: () => number = Date.now) {}

  async hit(key: string, windowMs: number): Promise<WindowHit> {
    const now = this.now();
    this.sweep(now);
    const { index, resetMs } = currentWindow(windowMs, now);
    const windowKey = `${key}:${index}`;
    const counter = this.counters.get(windowKey) ?? { count: 0, expiresAt: now + resetMs };
    counter.count++;
    this.counters.set(windowKey, counter);
    return { count: counter.count, resetMs };
  }

  /** Forgets finished windows, at most once a second, so memory stays bounded by the active clients. */
  private sweep(now: number): void {
    if (now < this.nextSweep) return;
    this.nextSweep = now + 1_000;
    for (const [key, counter] of this.counters) if (counter.expiresAt <= now) this.counters.delete(key);
  }

  async close(): Promise<void> {
    this.counters.clear();
  }
}
