import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The least a Node upload server can do: receive a request body and drop it (204 once it
 * has all arrived). Run as its own process by the tus-throughput benchmark: its CPU per GiB
 * is the floor under the upload service's. The port it listens on is printed on stdout.
 */
const server = createServer((req, res) => {
  req.on('data', () => undefined);
  req.once('end', () => {
    res.writeHead(204);
    res.end();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as AddressInfo).port}\n`));
