import type { Context, Next } from 'koa';
import type { Logger } from 'pino';

export type ErrorCode =
  | 'validation_failed'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'payload_too_large'
  | 'rate_limited'
  | 'request_timeout'
  | 'upstream_unavailable'
  | 'internal';

/** An error meant for the client: its code, status and message are safe to show. */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly status: number,
    message: string,
    readonly details?: unknown,
    options?: { cause?: unknown; headers?: Record<string, string> },
  ) {
    super(message, { cause: options?.cause });
    this.headers = options?.headers ?? {};
  }
  readonly headers: Record<string, string>;
}

export const validationFailed = (message: string, details?: unknown) =>
  new AppError('validation_failed', 400, message, details);
export const unauthenticated = (message = 'Authentication required') =>
  new AppError('unauthenticated', 401, message);
export const forbidden = (message = 'Not allowed') => new AppError('forbidden', 403, message);
export const notFound = (what = 'resource') => new AppError('not_found', 404, `${what} not found`);
export const conflict = (message: string) => new AppError('conflict', 409, message);
export const payloadTooLarge = (message = 'Payload too large') =>
  new AppError('payload_too_large', 413, message);
export const upstreamUnavailable = (service: string, retryAfterSeconds = 5, cause?: unknown) =>
  new AppError('upstream_unavailable', 503, `${service} is unavailable, try again shortly`, undefined, {
    cause,
    headers: { 'Retry-After': String(retryAfterSeconds) },
  });

/** The client went silent mid-request; the connection closes, since the rest of the request cannot be told apart from the next one. */
export const requestTimeout = (message = 'The request was not sent in time') =>
  new AppError('request_timeout', 408, message, undefined, { headers: { Connection: 'close' } });

export const rateLimited = (retryAfterSeconds: number, message = 'Too many requests, slow down') =>
  new AppError('rate_limited', 429, message, undefined, { headers: { 'Retry-After': String(retryAfterSeconds) } });

export interface ErrorBody {
  error: { code: ErrorCode; message: string; requestId?: string; details?: unknown };
}

export function errorBody(err: AppError, requestId?: string): ErrorBody {
  const error: ErrorBody['error'] = { code: err.code, message: err.message, requestId };
  if (err.details !== undefined) error.details = err.details;
  return { error };
}

const codeByStatus: Record<number, ErrorCode> = {
  400: 'validation_failed',
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'validation_failed',
  429: 'rate_limited',
};

/** Turns anything thrown (AppError, koa's http errors, bugs) into an AppError. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const status = (err as { status?: unknown })?.status;
  const expose = (err as { expose?: unknown })?.expose;
  if (typeof status === 'number' && status >= 400 && status < 500 && expose !== false) {
    const code = codeByStatus[status] ?? 'validation_failed';
    return new AppError(code, status, (err as Error).message || code, undefined, { cause: err });
  }
  return new AppError('internal', 500, 'Internal error', undefined, { cause: err });
}

/** The one error mapper of a service: every error leaves as the JSON error shape. */
export function errorMiddleware(logger: Logger) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined && !ctx.headerSent) {
        throw notFound('route');
      }
    } catch (thrown) {
      const err = toAppError(thrown);
      const requestId = ctx.state.requestId as string | undefined;
      if (err.status >= 500) logger.error({ err: thrown, requestId }, 'request failed');
      if (ctx.headerSent || !ctx.writable) return;
      ctx.status = err.status;
      ctx.set(err.headers);
      ctx.body = errorBody(err, requestId);
    }
  };
}
