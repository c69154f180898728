import type { Context } from 'koa';

/**
 * The address a request came from, the key that keeps clients' bcrypt work apart. The
 * gateway sends its verified client IP as the one X-Forwarded-For value
 * (gateway/src/proxy/forward-headers.ts); it is believed only on a request whose internal
 * token is the gateway's. Anything else is keyed by the connection's peer.
 */
export function clientAddress(ctx: Context): string {
  const forwarded = ctx.state.caller === 'gateway' ? ctx.get('x-forwarded-for').trim() : '';
  return forwarded ? `ip:${forwarded}` : `peer:${ctx.req.socket.remoteAddress ?? 'unknown'}`;
}
