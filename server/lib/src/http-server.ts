import { createServer, type Server, type ServerOptions } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import type Koa from 'koa';
import type { Logger } from 'pino';

export interface RunningServer {
  server: Server;
  port: number;
  close(): Promise<void>;
}

export interface ListenOptions {
  /** Node's server options (headersTimeout, connectionsCheckingInterval, ...); requestTimeout defaults to 0 here. */
  server?: ServerOptions;
  /** Runs before the server listens: connection limits, clientError handling. */
  prepare?: (server: Server) => void;
}

/** Listens on host:port; close() stops accepting, lets in-flight requests finish, then returns. */
export async function listen(app: Koa, host: string, port: number, options: ListenOptions = {}): Promise<RunningServer> {
  // requestTimeout 0: long uploads; the per-route logic decides, not a global timer.
  const server = createServer({ requestTimeout: 0, ...options.server }, app.callback());
  server.keepAliveTimeout = 65_000;
  options.prepare?.(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

/** After the in-flight grace: how long the cleanups may still take before the process exits regardless. */
const CLEANUP_GRACE_MS = 5_000;

/**
 * SIGTERM/SIGINT: stop accepting, give in-flight requests `graceMs` to finish, run the
 * cleanups (close pools) and exit; exit regardless `CLEANUP_GRACE_MS` after the grace.
 */
export function onShutdown(
  logger: Logger,
  running: RunningServer,
  cleanups: Array<() => Promise<unknown>>,
  graceMs = 10_000,
): void {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const forced = setTimeout(() => {
      logger.warn('in-flight requests did not finish in time; closing them');
      running.server.closeAllConnections();
      // A cleanup that waits for something that never comes (a pool whose database is
      // gone) must not keep the process: it exits after a last grace, and says so.
      setTimeout(() => {
        logger.error('shutdown did not finish; exiting anyway');
        process.exit(1);
      }, CLEANUP_GRACE_MS).unref();
    }, graceMs);
    forced.unref();
    await running.close();
    for (const cleanup of cleanups) await cleanup().catch((err) => logger.error({ err }, 'cleanup failed'));
    clearTimeout(forced);
    logger.info('stopped');
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

/**
 * `count` distinct TCP ports that were free a moment ago on `host`, none of them in
 * `avoid`. Asking for one port at a time can give the same port twice (each probe is
 * closed before the next asks), and two services told to share a port make one of them
 * answer for the other: all probes stay open until every port is chosen.
 */
export async function freePorts(count: number, host = '127.0.0.1', avoid: number[] = []): Promise<number[]> {
  const probes: Array<ReturnType<typeof createNetServer>> = [];
  const ports: number[] = [];
  try {
    while (ports.length < count) {
      const probe = createNetServer();
      probes.push(probe);
      const port = await new Promise<number>((resolve, reject) => {
        probe.once('error', reject);
        probe.listen(0, host, () => resolve((probe.address() as AddressInfo).port));
      });
      if (!avoid.includes(port)) ports.push(port);
    }
    return ports;
  } finally {
    await Promise.all(probes.map((probe) => new Promise((resolve) => probe.close(resolve))));
  }
}

/** A TCP port that was free a moment ago on `host`: for launchers and tests that pick ports. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
