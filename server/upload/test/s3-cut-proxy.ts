import net from 'node:net';

/**
 * A TCP proxy in front of S3 that cuts one UploadPart mid-body the way the death of the
 * process sending it does: S3 gets the head and the first `bytes` of the body, then the
 * connection's end (FIN, which is what the kernel sends for a SIGKILLed process), and the
 * sender never hears back. Everything else passes untouched. Requests are framed by
 * Content-Length, as the store's S3 client sends them (with `Expect: 100-continue` for
 * large bodies, whose interim answer passes).
 */
export class S3CutProxy {
  private armed: { bytes: number; answered: (answer: string) => void } | undefined;
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    readonly url: string,
  ) {}

  static async to(endpoint: string): Promise<S3CutProxy> {
    const target = new URL(endpoint);
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = new S3CutProxy(server, `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
    server.on('connection', (client) => proxy.accept(client, target.hostname, Number(target.port)));
    return proxy;
  }

  /** The next UploadPart gets only its first `bytes`; resolves with the status line S3 answered it with. */
  cutNextPart(bytes: number): Promise<string> {
    return new Promise((answered) => (this.armed = { bytes, answered }));
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private accept(client: net.Socket, host: string, port: number): void {
    const upstream = net.connect(port, host);
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => this.sockets.delete(socket));
    }
    let cut: ((answer: string) => void) | undefined;
    upstream.on('data', (chunk: Buffer) => {
      const status = chunk.toString('latin1').split('\r\n')[0]!;
      // The store's client waits for "100 Continue" before it sends a part's body.
      if (!cut || status.startsWith('HTTP/1.1 100')) return void client.write(chunk);
      cut(status);
    });
    upstream.on('end', () => (cut ? undefined : client.end()));
    client.on('end', () => upstream.end());

    let pending = Buffer.alloc(0);
    /** Body bytes of the current request still to pass, or undefined while its head is being read. */
    let bodyLeft: number | undefined;
    client.on('data', (chunk: Buffer) => {
      if (cut) return; // the sender is "dead": nothing more of it reaches S3
      pending = Buffer.concat([pending, chunk]);
      while (pending.length > 0) {
        if (bodyLeft === undefined) {
          const end = pending.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = pending.subarray(0, end + 4).toString('latin1');
          pending = pending.subarray(end + 4);
          bodyLeft = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
          const isPart = /^PUT [^ ]*[?&]partNumber=/.test(head);
          upstream.write(head);
          if (isPart && this.armed) {
            const { bytes, answered } = this.armed;
            this.armed = undefined;
            cut = answered;
            bodyLeft = Math.min(bodyLeft, bytes);
            // Whatever of the body has come already, up to `bytes`, then the end.
            const sent = pending.subarray(0, bodyLeft);
            upstream.write(sent);
            const missing = bodyLeft - sent.length;
            if (missing === 0) return void upstream.end();
            // The rest of the cut-down body arrives in later chunks.
            const more = (next: Buffer) => {
              const piece = next.subarray(0, bodyLeft! - taken);
              taken += piece.length;
              upstream.write(piece);
              if (taken === bodyLeft) {
                client.off('data', more);
                upstream.end();
              }
            };
            let taken = sent.length;
            client.on('data', more);
            return;
          }
        }
        const piece = pending.subarray(0, bodyLeft);
        pending = pending.subarray(piece.length);
        bodyLeft -= piece.length;
        upstream.write(piece);
        if (bodyLeft === 0) bodyLeft = undefined;
        else return;
      }
    });
  }
}
