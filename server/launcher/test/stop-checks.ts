import type { ExecutionContext } from 'ava';
import { alive, descendants, eventually, portInUse, type Launcher } from './launcher-process.ts';

const CHILDREN = ['postgres', 'auth', 'files', 'upload', 'gateway'];

export interface Snapshot {
  /** Every pid the launcher logged as started, by name (restarted ones too). */
  logged: Record<string, number[]>;
  /** Every process below the launcher right now: its children and theirs (tsx's esbuild helpers). */
  tree: number[];
  ports: number[];
}

/** What a stopped launcher must leave no trace of. */
export function snapshot(launcher: Launcher): Snapshot {
  const ports = [...Object.values(launcher.ports), ...(launcher.databasePort ? [launcher.databasePort] : [])];
  return { logged: Object.fromEntries(CHILDREN.map((name) => [name, launcher.startedPids(name)])), tree: descendants(launcher.pid), ports };
}

/** The processes and ports of `before` are all gone (waiting up to `withinMs` for the last ones). */
export async function expectNothingLeft(t: ExecutionContext, before: Snapshot, withinMs: number): Promise<void> {
  const all = [...new Set([...Object.values(before.logged).flat(), ...before.tree])];
  await eventually(() => all.every((pid) => !alive(pid)), withinMs);
  t.deepEqual(
    all.filter(alive).map((pid) => `${pid} (${nameOf(before, pid)})`),
    [],
    'no process the launcher started is left',
  );
  const busy: number[] = [];
  for (const port of before.ports) if (await portInUse(port)) busy.push(port);
  t.deepEqual(busy, [], 'every port is free again');
}

/** A signal-driven stop: the log says so, the launcher exits 0 after its children, nothing restarts, nothing is left. */
export async function expectStoppedCleanly(t: ExecutionContext, launcher: Launcher, before: Snapshot, from: number, signal: string): Promise<void> {
  for (const name of CHILDREN) t.true(before.tree.includes(before.logged[name]!.at(-1)!), `${name} ran as the launcher's child`);
  let timer: NodeJS.Timeout | undefined;
  const exit = await Promise.race([launcher.exited, new Promise((resolve) => (timer = setTimeout(() => resolve('still running after 60 s'), 60_000)))]);
  clearTimeout(timer);
  t.deepEqual(exit, { code: 0, signal: null });
  const own = launcher.ownLines(from).map((line) => line.text);
  t.is(own[0], `${signal}: stopping`);
  t.is(own.at(-1), 'stopped');
  t.deepEqual(
    own.filter((line) => /restarting|started \(pid/.test(line)),
    [],
    'nothing is restarted while stopping',
  );
  // The launcher waits for its children: when it has exited they are gone.
  const children = Object.values(before.logged).flat();
  t.deepEqual(
    children.filter(alive).map((pid) => `${pid} (${nameOf(before, pid)})`),
    [],
    'every child exited before the launcher did',
  );
  await expectNothingLeft(t, before, 10_000);
}

function nameOf(before: Snapshot, pid: number): string {
  return Object.entries(before.logged).find(([, pids]) => pids.includes(pid))?.[0] ?? 'grandchild';
}
