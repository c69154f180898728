import type { Recorder } from './recorder.ts';
import { sleep } from './scenario.ts';

/** k6's ramping-vus: linear from the previous target to `target` over `seconds`. */
export interface Stage {
  seconds: number;
  target: number;
}

export function targetAt(stages: Stage[], elapsedS: number, start = 1): number {
  let from = start;
  let at = 0;
  for (const stage of stages) {
    if (elapsedS < at + stage.seconds) return Math.round(from + ((stage.target - from) * (elapsedS - at)) / stage.seconds);
    from = stage.target;
    at += stage.seconds;
  }
  return from;
}

export interface VirtualUser {
  id: number;
  /** True once the VU should finish its current iteration and leave. */
  readonly stopping: boolean;
}

/**
 * Starts and retires virtual users to follow `stages`; each runs `vu` until told to
 * stop. Resolves when the stages are over and every VU has left.
 */
export async function rampVus(stages: Stage[], recorder: Recorder, signal: AbortSignal, vu: (user: VirtualUser) => Promise<void>): Promise<void> {
  const totalS = stages.reduce((s, st) => s + st.seconds, 0);
  const started = Date.now();
  const active: Array<{ user: { id: number; stopping: boolean }; done: Promise<void> }> = [];
  const finished: Promise<void>[] = [];
  let nextId = 1;
  const spawn = () => {
    const user = { id: nextId++, stopping: false };
    recorder.vuStarted();
    const done = vu(user)
      .catch((err: Error) => recorder.error(`VU ${user.id}: ${err.message}`))
      .finally(() => recorder.vuStopped());
    active.push({ user, done });
    finished.push(done);
  };
  for (let elapsed = 0; elapsed < totalS && !signal.aborted; elapsed = (Date.now() - started) / 1000) {
    const target = Math.max(0, targetAt(stages, elapsed));
    while (active.length < target) spawn();
    while (active.length > target) active.pop()!.user.stopping = true;
    await sleep(100, signal);
  }
  for (const { user } of active) user.stopping = true;
  await Promise.all(finished);
}
