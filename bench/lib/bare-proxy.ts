import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The least a Node gateway can do: one HTTP hop with keep-alive and nothing else (no
 * middleware, no auth, no breakers). Run as its own process by the gateway-overhead
 * benchmark, beside the real gateway, so the hop's own cost is measured in the same run.
 * TARGET is the upstream's base URL; the port it listens on is printed on stdout.
 */
const target = new URL(process.env.TARGET!);
const agent = new Agent({ keepAlive: true, maxSockets: 64 });
const server = createServer((req, res) => {
  const upstream = request({ hostname: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent }, (answer) => {
    res.writeHead(answer.statusCode!, answer.headers);
    answer.pipe(res);
  });
  upstream.once('error', () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  req.pipe(upstream);
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as AddressInfo).port}\n`));
