import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A TCP relay on a loopback port in front of a real server (Redis here), that a test can
 * cut (every connection reset, the port refused) or stall (connections stay open, no byte
 * passes), and restore on the same port: the failures a client of that server meets, on
 * a server other tests share and must keep.
 */
export class TcpLink {
  private server: Server;
  private readonly sockets = new Set<Socket>();
  private stalled = false;
  port = 0;

  private constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {
    this.server = this.newServer();
  }

  static async open(targetHost: string, targetPort: number): Promise<TcpLink> {
    const link = new TcpLink(targetHost, targetPort);
    await link.listen(0);
    return link;
  }

  /** Resets every connection and stops listening: new connections are refused. */
  async cut(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Listens again on the same port, relaying as before. */
  async restore(): Promise<void> {
    this.stalled = false;
    this.server = this.newServer();
    await this.listen(this.port);
  }

  /** Keeps every connection open and passes no more bytes either way: a server that stopped answering. */
  stall(): void {
    this.stalled = true;
    for (const socket of this.sockets) {
      socket.unpipe();
      socket.pause();
    }
  }

  private newServer(): Server {
    return createServer((client) => {
      this.track(client);
      if (this.stalled) return client.pause();
      const upstream = connect(this.targetPort, this.targetHost);
      this.track(upstream);
      client.pipe(upstream).pipe(client);
      const both = () => {
        client.destroy();
        upstream.destroy();
      };
      client.once('close', both);
      upstream.once('close', both);
    });
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => this.sockets.delete(socket));
  }

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.port = (this.server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    if (this.server.listening) await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
