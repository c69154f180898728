/** How often and how patiently a request or an upload is tried again. */
export interface RetryPolicy {
  /** Attempts after the first one. */
  retries: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: 6, baseDelayMs: 500, maxDelayMs: 15_000 };

/** Statuses that mean "not now" rather than "no": locked, rate limited, the server or a hop away. */
const RETRYABLE_STATUSES = new Set([408, 423, 429, 500, 502, 503, 504]);

export const isRetryableStatus = (status: number) => RETRYABLE_STATUSES.has(status);

/**
 * The wait before attempt `attempt + 1`: the server's `Retry-After` (seconds) when it sent
 * one, else exponential backoff with jitter, capped.
 */
export function retryDelayMs(policy: RetryPolicy, attempt: number, retryAfter?: string | null): number {
  const seconds = retryAfter ? Number(retryAfter) : Number.NaN;
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, policy.maxDelayMs * 4);
  const exponential = Math.min(policy.baseDelayMs * 2 ** attempt, policy.maxDelayMs);
  return exponential / 2 + Math.random() * (exponential / 2);
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
