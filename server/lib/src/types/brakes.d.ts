declare module 'brakes' {
  import { EventEmitter } from 'node:events';
  interface BrakesOptions {
    name?: string;
    group?: string;
    bucketSpan?: number;
    bucketNum?: number;
    statInterval?: number;
    circuitDuration?: number;
    waitThreshold?: number;
    threshold?: number;
    timeout?: number;
    isFailure?: (err: unknown) => boolean;
    isPromise?: boolean;
    isFunction?: boolean;
    modifyError?: boolean;
    healthCheck?: () => Promise<unknown>;
    healthCheckInterval?: number;
  }
  class Brakes<A extends unknown[] = unknown[], R = unknown> extends EventEmitter {
    constructor(fn: (...args: A) => Promise<R>, options?: BrakesOptions);
    exec(...args: A): Promise<R>;
    isOpen(): boolean;
    destroy(): void;
  }
  export default Brakes;
}
