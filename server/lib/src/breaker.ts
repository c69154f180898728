import Brakes from 'brakes';
import { Gauge, type Registry } from 'prom-client';

export interface BreakerOptions {
  name: string;
  timeoutMs: number;
  /** How long an open circuit stays open before it lets a trial request through. */
  openMs?: number;
  /** Errors that say nothing about the upstream's health (a 404, a 400) do not count. */
  isFailure?: (err: unknown) => boolean;
  /** Share of failed calls (0..1) that opens the circuit; default 0.5. */
  failureRatio?: number;
  /** Calls the window must hold before the ratio counts; default 5. */
  minCalls?: number;
  /** The sliding window the ratio is computed over; default 10 s. */
  windowMs?: number;
  /**
   * The half-open trial: while open, this probe runs every `probeIntervalMs` and the
   * circuit closes as soon as it succeeds. Without it the circuit closes after `openMs`.
   */
  probe?: () => Promise<unknown>;
  probeIntervalMs?: number;
}

/**
 * A circuit breaker around one upstream call. When the upstream keeps failing the
 * breaker opens and calls fail at once, then it half-opens after `openMs` and closes
 * again on success.
 */
export class CircuitBreaker {
  private readonly brake: Brakes<[() => Promise<unknown>], unknown>;

  constructor(options: BreakerOptions, onStateChange?: (open: boolean) => void) {
    this.brake = new Brakes((call: () => Promise<unknown>) => call(), {
      name: options.name,
      timeout: options.timeoutMs,
      circuitDuration: options.openMs ?? 5_000,
      threshold: 1 - (options.failureRatio ?? 0.5),
      waitThreshold: options.minCalls ?? 5,
      bucketSpan: (options.windowMs ?? 10_000) / 10,
      bucketNum: 10,
      healthCheck: options.probe,
      healthCheckInterval: options.probeIntervalMs ?? 1_000,
      statInterval: 60_000,
      isPromise: true,
      modifyError: false,
      isFailure: options.isFailure,
    });
    this.brake.on('circuitOpen', () => onStateChange?.(true));
    this.brake.on('circuitClosed', () => onStateChange?.(false));
  }

  run<T>(call: () => Promise<T>): Promise<T> {
    return this.brake.exec(call) as Promise<T>;
  }

  get isOpen(): boolean {
    return this.brake.isOpen();
  }

  destroy(): void {
    this.brake.destroy();
  }
}

export function breakerStateGauge(registry: Registry): Gauge<'upstream'> {
  return new Gauge({
    name: 'circuit_breaker_open',
    help: '1 when the circuit breaker to an upstream is open',
    labelNames: ['upstream'] as const,
    registers: [registry],
  });
}
