import { Agent, request, type ClientRequest, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from 'koa';
import { bufferChurn, notFound, upstreamUnavailable, type InternalTokenIssuer, type Logger } from '@govault/lib';
import type { UpstreamName } from '../config.ts';
import { UpstreamFailure, isUnreachable, type UpstreamInstance, type UpstreamPool, type UpstreamPools } from '../upstream/upstream-pool.ts';
import { originOf } from '../http/public-origin.ts';
import { requestHeadersFor, responseHeadersFrom } from './forward-headers.ts';
import { upstreamFor } from './routes.ts';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface ProxyOptions {
  /** How long an idempotent request waits for an unreachable upstream before the 503. */
  retryMs: number;
  /** Time to response headers, counted from the moment the request body has been sent. */
  timeoutMs: number;
  /**
   * Upstreams whose idempotent requests wait (up to retryMs, across open circuits) for an
   * instance to come back. For upload: tus clients start over from zero when a resume
   * HEAD fails. Requests to the others get their 503 at once: a quick answer is what
   * their clients want, and Retry-After tells them when to come back.
   */
  waitFor: UpstreamName[];
}

/** Where the request body stands: once a byte has been read it cannot go to another instance. */
class RequestBody {
  bytes = 0;
  constructor(readonly source: IncomingMessage) {}

  get consumed(): boolean {
    return this.bytes > 0;
  }

  static of(ctx: Context): RequestBody | undefined {
    if (IDEMPOTENT.has(ctx.method)) return undefined;
    const length = ctx.get('content-length');
    if (!ctx.get('transfer-encoding') && (length === '' || length === '0')) return undefined;
    return new RequestBody(ctx.req);
  }
}

/**
 * The client's end of one proxied request: whether it went away before its answer was
 * complete, and the upstream request to cut when it does. (An AbortSignal per request
 * did the same at a measurable cost on every request: see the gateway-overhead bench.)
 */
class ClientEnd {
  gone = false;
  private upstream: ClientRequest | undefined;

  constructor(res: ServerResponse) {
    res.once('close', () => {
      if (res.writableFinished) return;
      this.gone = true;
      this.upstream?.destroy();
    });
  }

  /** The upstream request now serving this client; cut at once if the client is gone. */
  follow(upstream: ClientRequest): void {
    this.upstream = upstream;
    if (this.gone) upstream.destroy();
  }
}

/**
 * Forwards a request to an instance of its service and streams both bodies: nothing is
 * buffered, so a multi-GiB tus PATCH passes with flat memory and keeps backpressure end
 * to end. A client that goes away aborts the upstream request, and an upstream that dies
 * mid-answer cuts the client's response.
 */
export class StreamingProxy {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 512 });

  constructor(
    private readonly pools: UpstreamPools,
    private readonly issuer: InternalTokenIssuer,
    private readonly options: ProxyOptions,
    private readonly logger: Logger,
  ) {}

  middleware() {
    return async (ctx: Context) => {
      const name = upstreamFor(ctx.path);
      if (!name) throw notFound('route');
      const headers = requestHeadersFor(ctx.req.headers, {
        userId: ctx.state.userId,
        requestId: ctx.state.requestId,
        // The request id travels in X-Request-Id; leaving it out of the token lets tokens be reused.
        internalToken: this.issuer.issue(name, { userId: ctx.state.userId }),
        // The origin the gateway chose (PUBLIC_URL, an allowed Host, a trusted proxy's), never a client's Host.
        forwardedHost: originOf(ctx).host,
        forwardedProto: originOf(ctx).proto,
        clientIp: ctx.ip,
      });
      const client = new ClientEnd(ctx.res);
      const body = RequestBody.of(ctx);
      ctx.state.upstream = name;
      const { response, instance } = await this.send(ctx, this.pools[name], headers, body, client)
        .catch((err: Error) => {
          if (client.gone) throw err;
          this.logger.warn({ err, upstream: name, requestId: ctx.state.requestId }, 'upstream unavailable');
          throw upstreamUnavailable(name, 5, err);
        })
        .finally(() => {
          ctx.state.bytesIn = body?.bytes ?? 0;
        });
      ctx.state.instance = instance.url;
      ctx.state.bytesOut = 0;
      response.on('data', (chunk: Buffer) => {
        ctx.state.bytesOut += chunk.length;
        bufferChurn.add(chunk.length);
      });
      ctx.respond = false;
      ctx.res.writeHead(response.statusCode ?? 502, responseHeadersFrom(response.headers));
      await new Promise<void>((resolve) => {
        ctx.res.once('close', resolve);
        // An upstream that dies mid-answer cuts the client's response rather than ending it.
        response.once('error', () => ctx.res.destroy());
        response.once('close', () => {
          if (!response.complete) ctx.res.destroy();
        });
        response.pipe(ctx.res);
      });
    };
  }

  /**
   * Tries the instances in turn. A request the upstream never saw (connection refused, a
   * body not yet read) moves on to the next instance. When none is left, idempotent
   * requests to a `waitFor` upstream wait for one that is restarting (bounded, with
   * backoff); everything else gets its 503 at once.
   */
  private async send(
    ctx: Context,
    pool: UpstreamPool,
    headers: OutgoingHttpHeaders,
    body: RequestBody | undefined,
    client: ClientEnd,
  ): Promise<{ response: IncomingMessage; instance: UpstreamInstance }> {
    const waits = IDEMPOTENT.has(ctx.method) && this.options.waitFor.includes(pool.name);
    const deadline = Date.now() + (waits ? this.options.retryMs : 0);
    const tried = new Set<UpstreamInstance>();
    let lastError: unknown;
    for (let delay = 100; ; ) {
      const instance = pool.pick(tried);
      if (instance) {
        tried.add(instance);
        try {
          const response = await instance.breaker.run(() => this.attempt(ctx, instance, headers, body, client));
          return { response, instance };
        } catch (err) {
          lastError = err;
          if (!isUnreachable(err) || body?.consumed || client.gone) throw err;
          continue;
        }
      }
      if (Date.now() + delay > deadline || client.gone) {
        throw lastError ?? new UpstreamFailure(`every circuit to ${pool.name} is open`, 'CIRCUIT_OPEN');
      }
      await sleep(delay);
      delay = Math.min(delay * 2, 1_000);
      tried.clear();
    }
  }

  /** Resolves with the upstream's response headers; the bodies stream on. */
  private attempt(
    ctx: Context,
    instance: UpstreamInstance,
    headers: OutgoingHttpHeaders,
    body: RequestBody | undefined,
    client: ClientEnd,
  ): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      // Always the instance's host: an absolute-form request target names only the path.
      const path = ctx.url.startsWith('/') ? ctx.url : `${ctx.path}${ctx.search}`;
      const upstreamRequest = request({ hostname: instance.hostname, port: instance.port, path, method: ctx.method, headers, agent: this.agent });
      client.follow(upstreamRequest);
      let timer: NodeJS.Timeout | undefined;
      const startClock = () => {
        timer = setTimeout(() => {
          upstreamRequest.destroy(new UpstreamFailure(`no answer within ${this.options.timeoutMs} ms`, 'UPSTREAM_TIMEOUT'));
        }, this.options.timeoutMs);
      };
      upstreamRequest.once('response', (response) => {
        clearTimeout(timer);
        resolve(response);
      });
      upstreamRequest.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      if (!body) {
        upstreamRequest.end();
        startClock();
        return;
      }
      // The body is read only once the connection stands: a refused connection has then
      // consumed nothing, and the request can go to another instance. The clock starts
      // when the body has been sent, so a long upload is never cut while bytes flow.
      upstreamRequest.once('socket', (socket) => {
        const stream = () => {
          body.source.on('data', (chunk: Buffer) => {
            body.bytes += chunk.length;
            bufferChurn.add(chunk.length);
          });
          body.source.once('end', startClock);
          body.source.pipe(upstreamRequest);
        };
        if (socket.connecting) socket.once('connect', stream);
        else stream();
      });
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
