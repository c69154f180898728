import type { Context, Next } from 'koa';

/** The scheme and host clients reach the gateway by: what the URLs the services emit start with. */
export interface PublicOrigin {
  proto: 'http' | 'https';
  host: string;
}

export interface PublicOriginOptions {
  /** PUBLIC_URL: the origin of every URL for a Host that is not an allowed one. */
  publicUrl?: PublicOrigin;
  /** PUBLIC_HOSTS: the Host values (host[:port], lower case) that keep their own origin. */
  publicHosts?: string[];
  /** TRUST_PROXY_HOPS > 0: ctx.host and ctx.protocol are the front proxy's X-Forwarded-Host/Proto. */
  trustProxy: boolean;
}

/** RFC 9110 §7.2 `Host = uri-host [ ":" port ]`, limited to names and IP literals: nothing that ends a URL's authority. */
export const HOST_FORM = /^([a-z0-9.-]+|\[[0-9a-f:.]+\])(:\d{1,5})?$/;

/** The loopback names a browser on this machine may use for the gateway at `port`. */
const loopbackHosts = (port: number) => [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`];

/**
 * Chooses the origin of the URLs the services emit (tus Location, part URLs), never
 * the one a client names: a Host (or a trusted proxy's X-Forwarded-Host) that is on the
 * allow-list keeps its own origin, so a browser at http://127.0.0.1:8080 and one at
 * http://localhost:8080 both stay same-origin; any other gets PUBLIC_URL's.
 *
 * The allow-list is PUBLIC_HOSTS when set; else PUBLIC_URL's host and the loopback names
 * at the port the request came in on; behind a trusted proxy without PUBLIC_URL, any
 * well-formed host the proxy forwards (the proxy decides which hosts reach us).
 * Without PUBLIC_URL the fallback is http://localhost:<that port>, the launcher's default.
 */
export function publicOrigin(options: PublicOriginOptions) {
  return async (ctx: Context, next: Next) => {
    ctx.state.publicOrigin = chooseOrigin(ctx, options);
    await next();
  };
}

export function originOf(ctx: Context): PublicOrigin {
  return ctx.state.publicOrigin as PublicOrigin;
}

function chooseOrigin(ctx: Context, options: PublicOriginOptions): PublicOrigin {
  const port = ctx.req.socket.localPort ?? 0;
  const fallback = options.publicUrl ?? { proto: 'http', host: `localhost:${port}` };
  const host = ctx.host.toLowerCase();
  if (!HOST_FORM.test(host)) return fallback;
  if (host === options.publicUrl?.host) return options.publicUrl;
  const allowed = options.publicHosts
    ? options.publicHosts.includes(host)
    : (options.trustProxy && !options.publicUrl) || loopbackHosts(port).includes(host);
  if (!allowed) return fallback;
  return { proto: ctx.protocol === 'https' ? 'https' : 'http', host };
}
