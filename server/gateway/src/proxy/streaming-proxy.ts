import { Agent, request, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { pipeline } from 'node:stream/promises';
import type { Context } from 'koa';
import { notFound, upstreamUnavailable, type InternalTokenIssuer, type Logger } from '@govault/lib';
import type { GatewayConfig } from '../config.ts';
import { requestHeadersFor, responseHeadersFrom } from './forward-headers.ts';
import { upstreamFor } from './routes.ts';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Errors that mean the upstream never saw the request, or died before it answered. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE', 'ETIMEDOUT']);

/**
 * Forwards a request to its service and streams both bodies: nothing is buffered, so a
 * multi-GiB tus PATCH passes with flat memory and keeps backpressure end to end. A client
 * that goes away aborts the upstream request, and an upstream that dies mid-answer cuts
 * the client's response.
 */
export class StreamingProxy {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 512 });

  constructor(
    private readonly upstreams: GatewayConfig['upstreams'],
    private readonly issuer: InternalTokenIssuer,
    private readonly retryMs: number,
    private readonly logger: Logger,
  ) {}

  middleware() {
    return async (ctx: Context) => {
      const name = upstreamFor(ctx.path);
      if (!name) throw notFound('route');
      const target = new URL(ctx.url, this.upstreams[name]);
      const headers = requestHeadersFor(ctx.req.headers, {
        userId: ctx.state.userId,
        requestId: ctx.state.requestId,
        internalToken: this.issuer.issue(name, { userId: ctx.state.userId, requestId: ctx.state.requestId }),
        forwardedHost: ctx.host,
        forwardedProto: ctx.protocol,
        clientIp: ctx.ip,
      });
      const clientGone = new AbortController();
      ctx.res.once('close', () => {
        if (!ctx.res.writableFinished) clientGone.abort();
      });
      const upstream = await this.send(ctx, target, headers, clientGone.signal).catch((err: NodeJS.ErrnoException) => {
        this.logger.warn({ err, upstream: name, requestId: ctx.state.requestId }, 'upstream unreachable');
        throw upstreamUnavailable(name, 5, err);
      });
      ctx.respond = false;
      ctx.res.writeHead(upstream.statusCode ?? 502, responseHeadersFrom(upstream.headers));
      await pipeline(upstream, ctx.res).catch(() => ctx.res.destroy());
    };
  }

  /**
   * Idempotent requests wait for an upstream that is restarting (bounded, with backoff):
   * tus clients restart an upload from zero when their resume HEAD fails.
   */
  private async send(ctx: Context, target: URL, headers: OutgoingHttpHeaders, signal: AbortSignal): Promise<IncomingMessage> {
    const deadline = Date.now() + (IDEMPOTENT.has(ctx.method) ? this.retryMs : 0);
    for (let delay = 100; ; delay = Math.min(delay * 2, 1_000)) {
      try {
        return await this.attempt(ctx, target, headers, signal);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? '';
        if (!UNREACHABLE.has(code) || Date.now() + delay > deadline || signal.aborted) throw err;
        await sleep(delay);
      }
    }
  }

  private attempt(ctx: Context, target: URL, headers: OutgoingHttpHeaders, signal: AbortSignal): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const upstreamRequest = request(target, { method: ctx.method, headers, agent: this.agent, signal }, resolve);
      upstreamRequest.once('error', reject);
      if (IDEMPOTENT.has(ctx.method)) upstreamRequest.end();
      else ctx.req.pipe(upstreamRequest);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
