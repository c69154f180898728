import { AppError, upstreamUnavailable, type ErrorBody } from './errors.ts';
import { CircuitBreaker } from './breaker.ts';
import type { InternalTokenIssuer } from './internal-token.ts';

export interface CallOptions {
  userId?: string;
  requestId?: string;
  body?: unknown;
}

/** An upstream answered with an error status: not a health problem of the upstream. */
class UpstreamAnswered extends Error {
  constructor(readonly status: number, readonly body: unknown) {
    super(`upstream answered ${status}`);
  }
}

/**
 * JSON calls from one service to another: signs an internal token for the target, applies
 * a timeout, and runs behind a circuit breaker. 4xx answers come back as AppErrors with
 * the upstream's code; an unreachable or failing upstream becomes 503.
 */
export class ServiceClient {
  private readonly breaker: CircuitBreaker;

  constructor(
    private readonly target: string,
    private readonly baseUrl: string,
    private readonly issuer: InternalTokenIssuer,
    options: { timeoutMs?: number; onBreakerChange?: (open: boolean) => void } = {},
  ) {
    this.breaker = new CircuitBreaker(
      {
        name: target,
        timeoutMs: options.timeoutMs ?? 5_000,
        isFailure: (err) => !(err instanceof UpstreamAnswered && err.status < 500),
      },
      options.onBreakerChange,
    );
  }

  async call<T>(method: string, path: string, options: CallOptions = {}): Promise<T> {
    try {
      return (await this.breaker.run(() => this.send(method, path, options))) as T;
    } catch (err) {
      if (err instanceof UpstreamAnswered && err.status < 500) {
        const error = (err.body as ErrorBody | undefined)?.error;
        throw new AppError(error?.code ?? 'internal', err.status, error?.message ?? `${this.target} refused the request`);
      }
      throw upstreamUnavailable(this.target, 5, err);
    }
  }

  private async send(method: string, path: string, options: CallOptions): Promise<unknown> {
    const headers: Record<string, string> = {
      'x-internal-token': this.issuer.issue(this.target, { userId: options.userId, requestId: options.requestId }),
      accept: 'application/json',
    };
    if (options.requestId) headers['x-request-id'] = options.requestId;
    if (options.userId) headers['x-user-id'] = options.userId;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(new URL(path, this.baseUrl), {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    const body = text ? safeJson(text) : undefined;
    if (!response.ok) throw new UpstreamAnswered(response.status, body);
    return body;
  }

  destroy(): void {
    this.breaker.destroy();
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
