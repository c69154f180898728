import { Agent, request, type ClientRequest, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from 'koa';
import { bufferChurn, notFound, requestTimeout, upstreamUnavailable, type InternalTokenIssuer, type Logger } from '@govault/lib';
import type { UpstreamName } from '../config.ts';
import {
  UpstreamFailure,
  UpstreamServerError,
  isUnreachable,
  type UpstreamInstance,
  type UpstreamPool,
  type UpstreamPools,
} from '../upstream/upstream-pool.ts';
import type { UpstreamRetryReason } from '../upstream/gateway-metrics.ts';
import { originOf } from '../http/public-origin.ts';
import { routeOf } from '../http/route-name.ts';
import { requestHeadersFor, responseHeadersFrom } from './forward-headers.ts';
import { ClientCutShort, RequestBody, withFraming } from './request-body.ts';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The upstream cannot have seen the request: no instance was tried (every circuit open) or
 * the connection was refused. Such a request may wait for a restarting instance whatever
 * its method (a tus POST or PATCH whose content is still unread); one that got as far as
 * a connection may have been acted on, and only idempotent methods are sent again.
 */
const neverDelivered = (err: unknown) =>
  (err as NodeJS.ErrnoException).code === 'ECONNREFUSED' || (err as Error).name === 'CircuitBrokenError';

export interface ProxyOptions {
  /** How long a request that may wait (see waitFor) waits for an unreachable upstream before the 503. */
  retryMs: number;
  /** Time to response headers, counted from the moment the request body has been sent. */
  timeoutMs: number;
  /**
   * Upstreams whose idempotent requests, and requests no instance can have seen, wait (up
   * to retryMs, across open circuits) for an instance to come back. For upload: tus
   * clients start over from zero when a resume HEAD fails, and give up a creation after
   * a few quick retries. Requests to the others get their 503 at once: a quick answer is what
   * their clients want, and Retry-After tells them when to come back.
   */
  waitFor: UpstreamName[];
  /** How long a request body may stay silent before the request is cut (408). */
  bodyIdleTimeoutMs: number;
  /** Connections to each upstream instance. */
  maxSocketsPerInstance: number;
  /** Called for each retry of a request: on the next instance, or after one wait for a restarting one. */
  onRetry?(upstream: UpstreamName, reason: UpstreamRetryReason): void;
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
      this.upstream?.destroy(new ClientCutShort('left'));
    });
  }

  /** The upstream request now serving this client; cut at once if the client is gone. */
  follow(upstream: ClientRequest): void {
    this.upstream = upstream;
    if (this.gone) upstream.destroy(new ClientCutShort('left'));
  }
}

/**
 * Forwards a request to an instance of its service and streams both bodies: nothing is
 * buffered, so a multi-GiB tus PATCH passes with flat memory and keeps backpressure end
 * to end. A client that goes away aborts the upstream request, and an upstream that dies
 * mid-answer cuts the client's response. The proxy owns the framing of every upstream
 * request (request-body.ts), and an upstream connection goes back to the keep-alive pool
 * only when its request was sent whole and its answer read whole.
 */
export class StreamingProxy {
  private readonly agent: Agent;

  constructor(
    private readonly pools: UpstreamPools,
    private readonly issuer: InternalTokenIssuer,
    private readonly options: ProxyOptions,
    private readonly logger: Logger,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets: options.maxSocketsPerInstance });
  }

  middleware() {
    return async (ctx: Context) => {
      // The route was found once, by routeName(); knownRoutesOnly() let only known ones here.
      const name = routeOf(ctx)?.upstream;
      if (!name) throw notFound('route');
      const body = RequestBody.of(ctx.req, this.options.bodyIdleTimeoutMs);
      const origin = originOf(ctx);
      const forwarded = requestHeadersFor(ctx.req.headers, {
        userId: ctx.state.userId,
        requestId: ctx.state.requestId,
        // The request id travels in X-Request-Id; leaving it out of the token lets tokens be reused.
        internalToken: this.issuer.issue(name, { userId: ctx.state.userId }),
        // The origin the gateway chose (PUBLIC_URL, an allowed Host, a trusted proxy's), never a client's Host.
        forwardedHost: origin.host,
        forwardedProto: origin.proto,
        clientIp: ctx.ip,
      });
      const headers = withFraming(forwarded, body);
      const client = new ClientEnd(ctx.res);
      ctx.state.upstream = name;
      let sent;
      try {
        sent = await this.send(ctx, this.pools[name], headers, body, client);
      } catch (err) {
        if (err instanceof ClientCutShort && err.reason === 'stalled' && !client.gone) throw requestTimeout();
        if (client.gone || err instanceof ClientCutShort) {
          ctx.respond = false; // nobody is listening
          return;
        }
        if (body?.abandoned) body.closeAfterAnswer(ctx.res);
        this.logger.warn({ err, upstream: name, requestId: ctx.state.requestId }, 'upstream unavailable');
        throw upstreamUnavailable(name, 5, err);
      } finally {
        ctx.state.bytesIn = body?.bytes ?? 0;
      }
      const { response, instance } = sent;
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
   * requests to a `waitFor` upstream, and any request it cannot have seen, wait for one
   * that is restarting (bounded, with backoff); everything else gets its 503 at once. A 5xx answer counts against the
   * instance's breaker and still goes to the client.
   */
  private async send(
    ctx: Context,
    pool: UpstreamPool,
    headers: OutgoingHttpHeaders,
    body: RequestBody | undefined,
    client: ClientEnd,
  ): Promise<{ response: IncomingMessage; instance: UpstreamInstance }> {
    const waitsFor = this.options.waitFor.includes(pool.name);
    const deadline = Date.now() + this.options.retryMs;
    const tried = new Set<UpstreamInstance>();
    let lastError: unknown;
    let mayHaveArrived = false;
    let movingOn = false;
    for (let delay = 100; ; ) {
      const instance = pool.pick(tried);
      if (instance) {
        if (movingOn) this.options.onRetry?.(pool.name, 'next_instance');
        movingOn = false;
        tried.add(instance);
        try {
          const response = await instance.breaker.run(() => this.attempt(ctx, instance, headers, body, client).then(UpstreamServerError.check));
          return { response, instance };
        } catch (err) {
          if (err instanceof UpstreamServerError) return { response: err.response, instance };
          lastError = err;
          mayHaveArrived ||= !neverDelivered(err);
          if (!isUnreachable(err) || body?.consumed || client.gone) throw err;
          movingOn = true;
          continue;
        }
      }
      const waits = waitsFor && (IDEMPOTENT.has(ctx.method) || !mayHaveArrived);
      if (!waits || Date.now() + delay > deadline || client.gone) {
        throw lastError ?? new UpstreamFailure(`every circuit to ${pool.name} is open`, 'CIRCUIT_OPEN');
      }
      this.options.onRetry?.(pool.name, 'wait');
      await sleep(delay);
      delay = Math.min(delay * 2, 1_000);
      tried.clear();
      movingOn = false;
    }
  }

  /**
   * Resolves with the upstream's response headers; the bodies stream on. Fails with
   * ClientCutShort when the client left or went silent: that says nothing about the
   * upstream, and its breaker does not count it.
   */
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
        if (body && !upstreamRequest.writableFinished) closeAfterEarlyAnswer(upstreamRequest, response, body);
        resolve(response);
      });
      // `on`: a request destroyed after its answer can still report an error.
      upstreamRequest.on('error', (err) => {
        clearTimeout(timer);
        reject(body?.cutShort ?? (client.gone ? new ClientCutShort('left') : err));
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
        const stream = () =>
          body.streamInto(upstreamRequest, {
            onSent: startClock,
            onStalled: () => {
              // An answer already on its way cannot become a 408: the connection goes.
              if (ctx.res.headersSent) ctx.req.socket.destroy();
            },
          });
        if (socket.connecting) socket.once('connect', stream);
        else stream();
      });
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/**
 * An upstream may answer before it has read the whole request (a 413, a 401; RFC 9112
 * §9.3). Its connection is then in a state the proxy cannot vouch for (it may never read
 * the rest), so it is closed rather than reused, and once the answer is complete the rest
 * of the client's content is read and dropped at the gateway instead of sent on.
 */
function closeAfterEarlyAnswer(upstream: ClientRequest, response: IncomingMessage, body: RequestBody): void {
  upstream.shouldKeepAlive = false;
  response.once('close', () => {
    if (upstream.writableFinished) return;
    body.discardRest();
    upstream.destroy();
  });
}
