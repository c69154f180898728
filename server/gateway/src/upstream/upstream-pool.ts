import type { IncomingMessage } from 'node:http';
import { CircuitBreaker, type Logger } from '@govault/lib';
import type { GatewayConfig, UpstreamName } from '../config.ts';
import type { GatewayMetrics } from './gateway-metrics.ts';

/** The upstream never answered in time, or could not be reached: these count against its breaker. */
export class UpstreamFailure extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/**
 * The upstream answered with a 5xx: the answer goes to the client, and counts against the
 * instance's breaker. (Raised inside the breaker's call, caught right outside it.)
 */
export class UpstreamServerError extends Error {
  constructor(readonly response: IncomingMessage) {
    super(`upstream answered ${response.statusCode}`);
  }

  static check(response: IncomingMessage): IncomingMessage {
    if ((response.statusCode ?? 0) >= 500) throw new UpstreamServerError(response);
    return response;
  }
}

/** Errors that say the instance is unreachable or dead (the request did not get an answer). */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE', 'ETIMEDOUT', 'UND_ERR_SOCKET']);

export function isUnreachable(err: unknown): boolean {
  return UNREACHABLE.has((err as NodeJS.ErrnoException)?.code ?? '') || (err as Error)?.name === 'CircuitBrokenError';
}

/**
 * Only the upstream's faults count: no connection, no answer in time, a 5xx. A request
 * cut because its client left or went silent (ClientCutShort, whatever the socket said
 * then) never reaches here as an ECONNRESET: the proxy names it for what it is.
 */
const countsAgainstInstance = (err: unknown) =>
  err instanceof UpstreamFailure || err instanceof UpstreamServerError || UNREACHABLE.has((err as NodeJS.ErrnoException)?.code ?? '');

export interface UpstreamInstance {
  upstream: UpstreamName;
  url: string;
  /** The url, parsed once: a URL per request was a measurable share of the hop. */
  hostname: string;
  port: number;
  breaker: CircuitBreaker;
}

/**
 * The instances of one upstream, taken in turn (round robin). An instance whose circuit
 * is open is skipped until its half-open probe (GET /healthz) succeeds.
 */
export class UpstreamPool {
  private turn = 0;

  constructor(
    readonly name: UpstreamName,
    readonly instances: UpstreamInstance[],
  ) {}

  /** The next instance in turn with a closed circuit, leaving out `exclude`. */
  pick(exclude: ReadonlySet<UpstreamInstance> = new Set()): UpstreamInstance | undefined {
    const n = this.instances.length;
    for (let i = 0; i < n; i++) {
      const index = (this.turn + i) % n;
      const instance = this.instances[index]!;
      if (instance.breaker.isOpen || exclude.has(instance)) continue;
      this.turn = (index + 1) % n;
      return instance;
    }
    return undefined;
  }

  destroy(): void {
    for (const instance of this.instances) instance.breaker.destroy();
  }
}

export type UpstreamPools = Record<UpstreamName, UpstreamPool>;

/** A pool with a breaker per instance for each upstream; breaker state goes to the metrics and the log. */
export function createUpstreamPools(config: GatewayConfig, metrics: GatewayMetrics, logger: Logger): UpstreamPools {
  const pool = (name: UpstreamName) =>
    new UpstreamPool(
      name,
      config.upstreams[name].map((url) => {
        const labels = { upstream: name, upstream_instance: url };
        metrics.breakerOpen.set(labels, 0);
        const breaker = new CircuitBreaker(
          {
            name: `${name} ${url}`,
            // Timeouts are the proxy's (time to response headers, never while a body streams).
            timeoutMs: 0x7fffffff,
            failureRatio: 0.5,
            minCalls: config.breaker.minCalls,
            windowMs: 2_000,
            isFailure: countsAgainstInstance,
            probe: () => probe(url),
            probeIntervalMs: config.breaker.probeIntervalMs,
          },
          (open) => {
            metrics.breakerOpen.set(labels, open ? 1 : 0);
            metrics.breakerTransitions.inc({ ...labels, state: open ? 'open' : 'closed' });
            logger.warn({ upstream: name, instance: url }, open ? 'circuit opened' : 'circuit closed');
          },
        );
        const { hostname, port } = new URL(url);
        return { upstream: name, url, hostname, port: Number(port || 80), breaker };
      }),
    );
  return { auth: pool('auth'), upload: pool('upload'), files: pool('files') };
}

async function probe(url: string): Promise<void> {
  const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1_000) });
  await response.body?.cancel();
  if (!response.ok) throw new Error(`healthz answered ${response.status}`);
}
