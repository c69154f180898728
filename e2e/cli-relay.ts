import { connect, createServer, type Server, type Socket } from 'node:net';

/** One direction of a relay: what crossed it, and how fast it may go. */
export interface RelayDirection {
  /** Bytes carried so far (headers and bodies), over every connection. */
  readonly bytes: number;
  /** Bytes per second shared by every connection; Infinity: as fast as the receiver takes them. */
  rate: number;
}

export interface Relay {
  /** Where clients connect: http://127.0.0.1:<port>. */
  readonly url: string;
  readonly port: number;
  /** Client to target (requests). */
  readonly up: RelayDirection;
  /** Target to client (answers, downloads). */
  readonly down: RelayDirection;
  /** Drops every connection and stops listening: the server is gone (connections are refused). */
  close(): Promise<void>;
}

/**
 * A TCP hop on loopback in front of one server (the gateway, or S3) that counts every
 * byte each way and can slow either way down, shared by all connections like one home
 * link. A chunk is forwarded at once and counted; its sender is then paused until the
 * link would have carried it and the receiver has taken it, so what is counted reached
 * the receiver's socket and nothing piles up here.
 *
 * Unlike slow-link.ts it listens before it knows its target (a system started behind it
 * must be told the relay's URL, and its own port is chosen at start) and counts answers too.
 */
export async function relay(target?: { port: number; host?: string }): Promise<Relay & { target(port: number, host?: string): void }> {
  let to = target;
  const up = direction();
  const down = direction();
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    if (!to) return client.destroy();
    const upstream = connect(to.port, to.host ?? '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined); // the other side is destroyed on close below
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    carry(client, upstream, up);
    carry(upstream, client, down);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    up,
    down,
    target(targetPort, host) {
      to = { port: targetPort, host };
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

interface Direction extends RelayDirection {
  bytes: number;
  /** When the shared link has carried everything counted so far. */
  freeAt: number;
}

function direction(): Direction {
  let rate = Number.POSITIVE_INFINITY;
  return {
    bytes: 0,
    freeAt: 0,
    get rate() {
      return rate;
    },
    // A new rate starts from now: bytes owed at the old one are forgiven.
    set rate(value: number) {
      rate = value;
      this.freeAt = 0;
    },
  };
}

function carry(from: Socket, to: Socket, link: Direction): void {
  from.on('data', (chunk: Buffer) => {
    link.bytes += chunk.length;
    // Both must allow the next chunk: the link's rate, and the receiver (backpressure).
    let waits = 1;
    const release = () => --waits === 0 && from.resume();
    if (!to.write(chunk)) {
      waits++;
      to.once('drain', release);
    }
    const now = Date.now();
    if (Number.isFinite(link.rate)) link.freeAt = Math.max(link.freeAt, now) + (chunk.length / link.rate) * 1000;
    from.pause();
    if (link.freeAt > now) setTimeout(release, link.freeAt - now);
    else release();
  });
  from.on('end', () => to.end());
}
