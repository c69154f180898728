import Brakes from 'brakes';
import { Gauge, type Registry } from 'prom-client';

export interface BreakerOptions {
  name: string;
  timeoutMs: number;
  /** How long an open circuit stays open before it lets a trial request through. */
  openMs?: number;
  /** Errors that say nothing about the upstream's health (a 404, a 400) do not count. */
  isFailure?: (err: unknown) => boolean;
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
      threshold: 0.5,
      waitThreshold: 5,
      bucketSpan: 1_000,
      bucketNum: 10,
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
