import type { Lock, Locker } from '@tus/server';

/**
 * Told when this process starts and stops holding an upload's tus lock. While it holds
 * it, no request anywhere else changes the upload, so what a request learns of the
 * upload stays true until `released`.
 */
export interface LockHolder {
  held(uploadId: string): void;
  released(uploadId: string): void;
}

/** `locker`, telling `holder` of each lock this process takes and gives back (before it goes). */
export function tellingHolder(locker: Locker, holder: LockHolder): Locker {
  return {
    newLock(id: string): Lock {
      const lock = locker.newLock(id);
      let holding = false;
      return {
        async lock(stopSignal, requestRelease) {
          await lock.lock(stopSignal, requestRelease);
          holding = true;
          holder.held(id);
        },
        async unlock() {
          if (holding) holder.released(id);
          holding = false;
          await lock.unlock();
        },
      };
    },
  };
}
