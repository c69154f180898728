import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { createLogger, migrate } from '@govault/lib';
import { testDatabase, type TestDatabase } from '@govault/lib/testing';
import { createTusLocker, type TusLocker } from '../src/tus/pg-locker.ts';

/**
 * The tus locker on the run's database, between lockers as separate upload instances hold
 * them: PostgreSQL advisory locks. On embedded PGlite, where advisory locks exclude
 * nothing, the lock is per process (npm start runs one upload instance), and the tests
 * that need two processes are not registered there.
 */
const onRealDatabase = Boolean(process.env.UPLOAD_DATABASE_URL) && process.env.GOVAULT_TEST_MODE !== 'embedded';
const logger = createLogger('test', 'silent');
let database: TestDatabase;
const lockers: TusLocker[] = [];
let waits: number[] = [];

test.before(async () => {
  database = await testDatabase('upload');
  await migrate({ url: database.url, schema: 'upload', migrationsDir: fileURLToPath(new URL('../../../migrations/upload', import.meta.url)) }, logger);
});
test.after.always(async () => {
  for (const locker of lockers) await locker.close();
  await database?.stop();
});

async function newLocker(): Promise<TusLocker> {
  const locker = await createTusLocker(database.url, logger, { waited: (s) => waits.push(s) });
  lockers.push(locker);
  return locker;
}

const never = new AbortController().signal;

/** Another upload process, holding the lock of `id` until it is killed (see lock-holder.ts). */
async function lockHolderProcess(id: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./lock-holder.ts', import.meta.url)), database.url, id], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async () => {
    const line = await Promise.race([lines.next(), exited.then(() => ({ done: true, value: undefined }))]);
    if (line.done) throw new Error('the lock holder exited');
    return line.value as string;
  };
  if ((await next()) !== 'locked') throw new Error('the lock holder did not take the lock');
  return { next, exited, kill: () => child.kill('SIGKILL') };
}

test.serial('the locker fits the database: advisory on PostgreSQL, per process on PGlite', async (t) => {
  const locker = await newLocker();
  t.is(database.kind === 'real', onRealDatabase);
  t.is(locker.kind, database.kind === 'real' ? 'postgres-advisory' : 'memory');
});

/** Two upload instances' lockers; on PGlite the one process's locker twice. */
async function twoLockers(): Promise<[TusLocker, TusLocker]> {
  const a = await newLocker();
  return [a, onRealDatabase ? await newLocker() : a];
}

test.serial('a second request for a held upload asks the holder to let go, then gets the lock', async (t) => {
  waits = [];
  const [a, b] = await twoLockers();
  const id = `upload-${randomUUID()}`;
  const held = a.locker.newLock(id);
  const events: string[] = [];
  await held.lock(never, async () => {
    events.push('release requested');
    await held.unlock();
  });
  const next = b.locker.newLock(id);
  await next.lock(never, () => undefined);
  events.push('second acquired');
  t.deepEqual(events, ['release requested', 'second acquired'], 'never both at once');
  await next.unlock();
  t.is(waits.length, 1, 'the wait is counted');
});

test.serial('two lockers never hold one upload at once', async (t) => {
  const [a, b] = await twoLockers();
  const id = `busy-${randomUUID()}`;
  let inside = 0;
  let overlap = false;
  const work = async (locker: TusLocker) => {
    for (let i = 0; i < 10; i++) {
      const lock = locker.locker.newLock(id);
      await lock.lock(never, () => undefined);
      inside++;
      if (inside > 1) overlap = true;
      await new Promise((r) => setTimeout(r, 5));
      inside--;
      await lock.unlock();
    }
  };
  await Promise.all([work(a), work(b), work(a), work(b)]);
  t.false(overlap);
});

if (onRealDatabase) test.serial('a lock whose holder died is free again', async (t) => {
  const id = `stale-${randomUUID()}`;
  const holder = await lockHolderProcess(id);
  t.teardown(() => holder.kill());
  const lock = (await newLocker()).locker.newLock(id);
  t.teardown(() => lock.unlock());
  let acquired = false;
  const acquiring = lock.lock(never, () => undefined).then(() => void (acquired = true));
  acquiring.catch(() => undefined); // awaited below
  // The holder hears the waiter ask twice: the waiter is still waiting, not done.
  for (const _ of [1, 2]) {
    const first = await Promise.race([holder.next(), acquiring.then(() => 'acquired')]);
    t.is(first, 'release requested', 'the waiter asks the holder to let go instead of taking the lock');
  }
  t.false(acquired, 'no lock while the holder lives');
  holder.kill();
  await holder.exited;
  await t.notThrowsAsync(acquiring, 'the lock once the holder died, before the waiter gives up (423)');
  await lock.unlock();
});
