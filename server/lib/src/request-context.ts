import { randomUUID } from 'node:crypto';
import type { Context, Next } from 'koa';
import type { Logger } from 'pino';

const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Accepts a sane incoming X-Request-Id or makes one; echoes it on the response. */
export function requestId() {
  return async (ctx: Context, next: Next) => {
    const incoming = ctx.get('x-request-id');
    const id = SANE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = id;
    ctx.set('X-Request-Id', id);
    await next();
  };
}

/** One JSON line per request, written when the response has finished. */
export function accessLog(logger: Logger) {
  return async (ctx: Context, next: Next) => {
    const started = process.hrtime.bigint();
    ctx.res.once('close', () => {
      const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
      logger.info(
        {
          requestId: ctx.state.requestId,
          method: ctx.method,
          path: ctx.path,
          route: ctx.state.routeName ?? ctx._matchedRoute,
          status: ctx.res.writableFinished ? ctx.status : ctx.res.statusCode,
          aborted: !ctx.res.writableFinished,
          durationMs: Math.round(durationMs * 10) / 10,
          bytesOut: ctx.res.getHeader('content-length') ?? undefined,
          userId: ctx.state.userId,
        },
        'request',
      );
    });
    await next();
  };
}
