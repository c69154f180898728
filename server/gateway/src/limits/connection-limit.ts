import type { Server } from 'node:http';

/**
 * At most `max` open connections per client address; the ones over it are closed at once,
 * unanswered: the cheapest thing to do with a flood, and a browser opens about six per
 * host. Behind a proxy the peer is the proxy, so the config passes Infinity there.
 */
export function capConnectionsPerAddress(server: Server, max: number): void {
  if (max === Infinity) return;
  const open = new Map<string, number>();
  server.on('connection', (socket) => {
    const address = socket.remoteAddress ?? 'unknown';
    const count = (open.get(address) ?? 0) + 1;
    if (count > max) {
      socket.destroy();
      return;
    }
    open.set(address, count);
    socket.once('close', () => {
      const left = open.get(address)! - 1;
      if (left === 0) open.delete(address);
      else open.set(address, left);
    });
  });
}
