import { connect, createServer, type Socket } from 'node:net';

export interface SlowLink {
  /** Where clients connect: http://127.0.0.1:<port>. */
  url: string;
  /** Bytes clients have sent through the link so far (every request: headers and bodies). */
  readonly bytesUp: number;
  close(): Promise<void>;
}

/**
 * A TCP hop on loopback with a slow uplink, shared by every connection through it, like
 * a home connection that many uploads share. Each chunk a client sends is forwarded at
 * once and counted; the client's socket is then paused until the link would have carried
 * the chunk and the receiver has taken it, so the rate holds and nothing piles up here:
 * what is counted reached the receiver's socket. Downlink is not limited.
 */
export async function slowLink(targetPort: number, bytesPerSecond: number): Promise<SlowLink> {
  let linkFreeAt = Date.now();
  let bytesUp = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined); // the other side is destroyed on close below
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    upstream.pipe(client);
    client.on('data', (chunk: Buffer) => {
      bytesUp += chunk.length;
      // Both must allow the next chunk: the link's rate, and the receiver (backpressure).
      let waits = 1;
      const release = () => --waits === 0 && client.resume();
      if (!upstream.write(chunk)) {
        waits++;
        upstream.once('drain', release);
      }
      const now = Date.now();
      linkFreeAt = Math.max(linkFreeAt, now) + (chunk.length / bytesPerSecond) * 1000;
      client.pause();
      setTimeout(release, Math.max(0, linkFreeAt - now));
    });
    client.on('end', () => upstream.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    get bytesUp() {
      return bytesUp;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
