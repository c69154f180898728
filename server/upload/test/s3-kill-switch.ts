import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** Which S3 request the upload service dies at, and whether S3 has carried it out by then. */
export interface KillPoint {
  request: 'UploadPart' | 'CompleteMultipartUpload';
  /** `before`: S3 never gets the request; `after`: S3 carries it out, its answer never arrives. */
  when: 'before' | 'after';
}

/** The S3 operation of a path-style request, as far as these tests need to tell them apart. */
function operationOf(req: http.IncomingMessage): string {
  const query = new URL(req.url ?? '/', 'http://s3').searchParams;
  if (req.method === 'PUT' && query.has('partNumber') && query.has('uploadId')) return 'UploadPart';
  if (req.method === 'POST' && query.has('uploadId')) return 'CompleteMultipartUpload';
  return 'other';
}

/**
 * An HTTP proxy in front of S3 for one upload instance, which models that instance's
 * SIGKILL at a chosen S3 request: from that moment nothing it sends reaches S3 and no
 * answer reaches it (its SDK sees dropped connections, gives up after its retries, and
 * the request that was writing fails), while the database keeps whatever it recorded
 * before. Requests go through unchanged (SigV4 signs the Host, which is kept), so a
 * second instance can talk to S3 directly and see exactly what the first one left.
 */
export class S3KillSwitch {
  private dead = false;
  private armed: KillPoint | undefined;
  private readonly sockets = new Set<import('node:net').Socket>();

  private constructor(
    private readonly server: http.Server,
    readonly url: string,
  ) {}

  static async to(endpoint: string): Promise<S3KillSwitch> {
    const target = new URL(endpoint);
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = new S3KillSwitch(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    server.on('connection', (socket) => {
      proxy.sockets.add(socket);
      socket.on('close', () => proxy.sockets.delete(socket));
    });
    server.on('request', (req, res) => proxy.forward(req, res, target));
    return proxy;
  }

  /** The instance behind this proxy dies at the next request of this kind. */
  killAt(point: KillPoint): void {
    this.armed = point;
  }

  /** The instance is started again: S3 answers it, until the next kill. */
  revive(): void {
    this.dead = false;
    this.armed = undefined;
  }

  get killed(): boolean {
    return this.dead;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private die(): void {
    this.dead = true;
    this.armed = undefined;
    for (const socket of this.sockets) socket.destroy();
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse, target: URL): void {
    if (this.dead) return void req.socket.destroy();
    const killHere = this.armed && operationOf(req) === this.armed.request ? this.armed.when : undefined;
    if (killHere === 'before') return this.die();
    const upstream = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        if (killHere === 'after') {
          // S3 has done it; the instance is gone before it hears so.
          answer.resume().on('end', () => this.die());
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => req.socket.destroy());
    req.pipe(upstream);
  }
}
