import type { Middleware } from 'koa';
import { validationFailed } from '@govault/lib';

/**
 * "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1 request
 * message that lacks a Host header field and to any request message that contains more
 * than one Host header field line" (RFC 9112 §3.2). Node refuses a missing Host itself,
 * but keeps the first of several; two proxies that each believe a different one is the
 * request's host are how caches and routers get confused.
 */
export function singleHost(): Middleware {
  return (ctx, next) => {
    const raw = ctx.req.rawHeaders;
    let hosts = 0;
    for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === 'host') hosts++;
    if (hosts > 1) throw validationFailed('A request may carry one Host header only');
    return next();
  };
}
