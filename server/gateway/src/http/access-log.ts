import type { Context, Next } from 'koa';
import type { Logger } from '@govault/lib';

/**
 * One JSON line per request, written when the response has finished or was cut: method,
 * route pattern, status, duration, bytes both ways, request id, user id, and which
 * upstream instance answered.
 */
export function gatewayAccessLog(logger: Logger) {
  return async (ctx: Context, next: Next) => {
    const started = process.hrtime.bigint();
    ctx.res.once('close', () => {
      const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
      const contentLength = Number(ctx.res.getHeader('content-length') ?? 0);
      logger.info(
        {
          requestId: ctx.state.requestId,
          method: ctx.method,
          path: ctx.path,
          route: ctx.state.routeName,
          status: ctx.res.statusCode,
          aborted: !ctx.res.writableFinished,
          durationMs: Math.round(durationMs * 10) / 10,
          bytesIn: ctx.state.bytesIn ?? Number(ctx.get('content-length') || 0),
          bytesOut: ctx.state.bytesOut ?? contentLength,
          userId: ctx.state.userId,
          upstream: ctx.state.instance,
        },
        'request',
      );
    });
    await next();
  };
}
