import net from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 in front of one dependency (PostgreSQL, S3), so that a test
 * can make that dependency fail for one service only, the way it fails in production:
 * `down()` drops every connection and refuses new ones (the server is gone), `freeze()`
 * keeps connections open but moves no byte (the server hangs), `open()` forwards again.
 */
export class TcpProxy {
  private state: 'open' | 'down' | 'frozen' = 'open';
  private readonly pairs = new Set<Pair>();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  /** A proxy to the host and port of `url` (postgres://... or http://...). */
  static async to(url: string): Promise<TcpProxy> {
    const { hostname, port, protocol } = new URL(url);
    const target = { host: hostname.replace(/^\[|\]$/g, ''), port: Number(port || (protocol === 'https:' ? 443 : protocol === 'http:' ? 80 : 5432)) };
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const proxy = new TcpProxy(server, (server.address() as net.AddressInfo).port, target);
    server.on('connection', (socket) => proxy.accept(socket));
    return proxy;
  }

  /** `url` with its host and port replaced by this proxy's. */
  rewrite(url: string): string {
    const rewritten = new URL(url);
    rewritten.hostname = '127.0.0.1';
    rewritten.port = String(this.port);
    return rewritten.toString().replace(/\/$/, url.endsWith('/') ? '/' : '');
  }

  down(): void {
    this.state = 'down';
    for (const pair of this.pairs) pair.destroy();
  }

  freeze(): void {
    this.state = 'frozen';
    for (const pair of this.pairs) pair.pause();
  }

  open(): void {
    this.state = 'open';
    for (const pair of this.pairs) pair.resume();
  }

  async close(): Promise<void> {
    this.down();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private accept(client: net.Socket): void {
    if (this.state === 'down') {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(this.target);
    const pair = new Pair(client, upstream, () => this.pairs.delete(pair));
    this.pairs.add(pair);
    if (this.state === 'open') pair.resume();
  }
}

/** One client connection and its upstream connection; bytes flow only while resumed. */
class Pair {
  private flowing = false;

  constructor(
    private readonly client: net.Socket,
    private readonly upstream: net.Socket,
    onClose: () => void,
  ) {
    for (const [socket, other] of [[client, upstream], [upstream, client]] as const) {
      socket.pause();
      socket.on('error', () => this.destroy());
      // A side that closes ends the other after what is still buffered for it (a reset
      // would cut an answer the client has not read yet).
      socket.on('close', () => {
        if (!other.destroyed) other.end();
        onClose();
      });
    }
  }

  resume(): void {
    if (this.flowing) return;
    this.flowing = true;
    this.client.pipe(this.upstream);
    this.upstream.pipe(this.client);
  }

  pause(): void {
    if (!this.flowing) return;
    this.flowing = false;
    this.client.unpipe(this.upstream);
    this.upstream.unpipe(this.client);
    this.client.pause();
    this.upstream.pause();
  }

  destroy(): void {
    if (!this.client.destroyed) this.client.resetAndDestroy();
    if (!this.upstream.destroyed) this.upstream.destroy();
  }
}
