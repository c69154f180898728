import type { ClientRequest, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { bufferChurn } from '@govault/lib';

/**
 * Methods whose request content the proxy forwards. Any other (GET, HEAD, OPTIONS, ...)
 * never carries content upstream: "content received in a GET request has no generally
 * defined semantics ... and might lead some implementations to reject the request and
 * close the connection because of its potential as a request smuggling attack"
 * (RFC 9110 §9.3.1). A client's content on those is read and dropped at the gateway.
 */
const CARRIES_CONTENT = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** How long a half-closed connection may still bring content the gateway drops. */
const CLOSE_GRACE_MS = 5_000;

/** The request content's length, or chunked when the client sent it chunked. */
export type Framing = number | 'chunked';

/**
 * The framing of the client's content, as Node's parser read it. That parser already
 * refuses what RFC 9112 §6.3 calls unreliable: Content-Length with Transfer-Encoding, a
 * Transfer-Encoding whose final coding is not chunked, differing Content-Lengths.
 */
function framingOf(req: IncomingMessage): Framing | undefined {
  if (req.headers['transfer-encoding'] !== undefined) return 'chunked';
  const length = Number(req.headers['content-length'] ?? 0);
  return length > 0 ? length : undefined;
}

/**
 * The upstream request's framing headers are the proxy's own, for exactly the content it
 * sends: a Content-Length or chunked, never both, nothing without content. The client's
 * Expect is answered by the gateway (Node sends the 100 Continue), so it stops here.
 */
export function withFraming(headers: OutgoingHttpHeaders, body: RequestBody | undefined): OutgoingHttpHeaders {
  const { 'content-length': _length, 'transfer-encoding': _coding, expect: _expect, ...rest } = headers;
  if (!body) return rest;
  return body.framing === 'chunked' ? { ...rest, 'transfer-encoding': 'chunked' } : { ...rest, 'content-length': String(body.framing) };
}

/** A request that ended without its content, because the client left or went silent: the client's fault, never the upstream's. */
export class ClientCutShort extends Error {
  constructor(readonly reason: 'left' | 'stalled') {
    super(reason === 'left' ? 'the client went away mid-request' : 'the client stopped sending its request content');
  }
}

export interface StreamHandlers {
  /** Every byte has been handed to the upstream request. */
  onSent(): void;
  /** No byte came for the idle timeout. */
  onStalled(): void;
}

/** The client's request content on its way upstream; once a byte has been read it cannot go to another instance. */
export class RequestBody {
  bytes = 0;
  /** The client left mid-content or went silent. */
  cutShort: ClientCutShort | undefined;
  /** The upstream request the content goes to now, and what to tell it. */
  private target: { upstream: ClientRequest; handlers: StreamHandlers } | undefined;

  private constructor(
    readonly source: IncomingMessage,
    readonly framing: Framing,
    private readonly idleTimeoutMs: number,
  ) {}

  /** The content to forward, if any; content the method does not carry is dropped here. */
  static of(req: IncomingMessage, idleTimeoutMs: number): RequestBody | undefined {
    const framing = framingOf(req);
    if (framing === undefined) return undefined;
    if (!CARRIES_CONTENT.has(req.method ?? '')) {
      req.resume();
      return undefined;
    }
    return new RequestBody(req, framing, idleTimeoutMs);
  }

  get consumed(): boolean {
    return this.bytes > 0;
  }

  /**
   * Pipes the content into `upstream`. A client that leaves mid-content leaves a
   * half-sent request upstream: that request is destroyed with its connection, never
   * returned to the keep-alive pool. Silence for the idle timeout counts as leaving.
   * (Called again for the next instance when a connection failed before any byte was read.)
   */
  streamInto(upstream: ClientRequest, handlers: StreamHandlers): void {
    const first = !this.target;
    this.target = { upstream, handlers };
    if (first) this.watch();
    this.source.pipe(upstream);
  }

  private watch(): void {
    const idle = setTimeout(() => {
      const { upstream, handlers } = this.target!;
      // A paused source waits on the upstream (backpressure), not on the client.
      if (upstream.writableNeedDrain) return void idle.refresh();
      this.cutShort = new ClientCutShort('stalled');
      upstream.destroy(this.cutShort);
      handlers.onStalled();
    }, this.idleTimeoutMs);
    this.source.on('data', (chunk: Buffer) => {
      this.bytes += chunk.length;
      bufferChurn.add(chunk.length);
      idle.refresh();
    });
    this.source.once('end', () => {
      clearTimeout(idle);
      this.target!.handlers.onSent();
    });
    this.source.once('close', () => {
      clearTimeout(idle);
      if (this.source.complete) return;
      this.cutShort ??= new ClientCutShort('left');
      this.target!.upstream.destroy(this.cutShort);
    });
  }

  /** The upstream took some of the content and then went away: the rest has nowhere to go. */
  get abandoned(): boolean {
    return this.consumed && !this.source.complete;
  }

  /**
   * For content abandoned midway: once the answer (a 503) has been sent, the connection is
   * half-closed, so the client learns at once that no more is wanted. Left open, Node reads
   * and drops the rest, and a tus client, which resumes on a new connection, would go on
   * sending the whole rest of its file into the old one. What arrives meanwhile is
   * dropped; the connection goes when the client closes it, or after a grace.
   */
  closeAfterAnswer(res: ServerResponse): void {
    this.source.unpipe();
    this.source.resume();
    const socket = this.source.socket;
    res.once('finish', () => {
      socket.end();
      setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
    });
  }

  /** After an early answer: the rest of the content is read and dropped here, never sent on. */
  discardRest(): void {
    this.source.unpipe();
    this.source.resume();
  }
}
