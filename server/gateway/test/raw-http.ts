import { connect, type Socket } from 'node:net';

/**
 * HTTP/1.1 over a bare TCP socket, for tests whose requests no HTTP client would send:
 * conflicting framing, content on a GET, a body that stops halfway, many slow sockets.
 */
export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const HEADER_END = Buffer.from('\r\n\r\n');

export class RawConnection {
  private buffer = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  ended = false;
  /** Resolves when the server has closed the connection (or it failed). */
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.wake?.();
    });
    this.closed = new Promise((resolve) => {
      const done = () => {
        this.ended = true;
        this.wake?.();
        resolve();
      };
      socket.once('close', done);
      socket.once('end', done);
      socket.on('error', () => undefined);
    });
  }

  /** A connection to 127.0.0.1:port, from `localAddress` (on Linux any 127.x.y.z is a loopback address). */
  static open(port: number, localAddress = '127.0.0.1'): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, localAddress });
      socket.once('connect', () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  destroy(): void {
    this.socket.destroy();
  }

  /**
   * The next response on the connection (a 1xx counts as one), or undefined when the
   * server closed it first. `head`: the answer to a HEAD, which has no content.
   */
  async response({ timeoutMs = 10_000, head = false } = {}): Promise<RawResponse | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const parsed = this.parse(head);
      if (parsed) return parsed;
      if (this.ended) return undefined;
      if (Date.now() > deadline) throw new Error(`no complete response within ${timeoutMs} ms; got ${JSON.stringify(this.buffer.toString())}`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 50);
      });
    }
  }

  private parse(head: boolean): RawResponse | undefined {
    const end = this.buffer.indexOf(HEADER_END);
    if (end < 0) return undefined;
    const [statusLine, ...lines] = this.buffer.subarray(0, end).toString('latin1').split('\r\n');
    const status = Number(statusLine!.split(' ')[1]);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const rest = this.buffer.subarray(end + HEADER_END.length);
    const body = head ? { text: '', used: 0 } : bodyOf(status, headers, rest, this.ended);
    if (!body) return undefined;
    this.buffer = rest.subarray(body.used);
    return { status, headers, body: body.text };
  }
}

function bodyOf(status: number, headers: Record<string, string>, data: Buffer, ended: boolean): { text: string; used: number } | undefined {
  if (status < 200 || status === 204 || status === 304) return { text: '', used: 0 };
  if (headers['transfer-encoding']?.includes('chunked')) return chunked(data);
  if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length']);
    return data.length >= length ? { text: data.subarray(0, length).toString(), used: length } : undefined;
  }
  return ended ? { text: data.toString(), used: data.length } : undefined;
}

function chunked(data: Buffer): { text: string; used: number } | undefined {
  const parts: Buffer[] = [];
  for (let at = 0; ; ) {
    const lineEnd = data.indexOf('\r\n', at);
    if (lineEnd < 0) return undefined;
    const size = parseInt(data.subarray(at, lineEnd).toString(), 16);
    const start = lineEnd + 2;
    if (size === 0) {
      const trailerEnd = data.indexOf('\r\n', start);
      return trailerEnd < 0 ? undefined : { text: Buffer.concat(parts).toString(), used: trailerEnd + 2 };
    }
    if (data.length < start + size + 2) return undefined;
    parts.push(data.subarray(start, start + size));
    at = start + size + 2;
  }
}

/** One request, header section and content as given, without a single header added. */
export function rawRequest(method: string, path: string, headers: Array<[string, string]>, content = ''): string {
  return `${method} ${path} HTTP/1.1\r\n${headers.map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n${content}`;
}
