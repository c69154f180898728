import test from 'ava';
import pg from 'pg';
import { createLogger } from '@govault/lib';
import { testDatabase, type TestDatabase } from '@govault/lib/testing';
import { createTusLocker, type TusLocker } from '../src/tus/pg-locker.ts';

/**
 * The tus locker on the run's database: PostgreSQL advisory locks between two lockers (as
 * two upload instances hold them), or, on embedded PGlite where advisory locks exclude
 * nothing, the in-process fallback.
 */
const logger = createLogger('test', 'silent');
let database: TestDatabase;
const lockers: TusLocker[] = [];
let waits: number[] = [];

test.before(async () => {
  database = await testDatabase('upload');
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

test.serial('the locker fits the database: advisory on PostgreSQL, per process on PGlite', async (t) => {
  const locker = await newLocker();
  t.is(locker.kind, database.kind === 'real' ? 'postgres-advisory' : 'memory');
});

test.serial('a second request for a held upload asks the holder to let go, then gets the lock', async (t) => {
  waits = [];
  const [a, b] = database.kind === 'real' ? [await newLocker(), await newLocker()] : [await newLocker(), undefined];
  const second = b ?? a;
  const id = `upload-${Date.now()}`;
  const held = a.locker.newLock(id);
  const events: string[] = [];
  await held.lock(never, async () => {
    events.push('release requested');
    await held.unlock();
  });
  const next = second.locker.newLock(id);
  await next.lock(never, () => undefined);
  events.push('second acquired');
  t.deepEqual(events, ['release requested', 'second acquired'], 'never both at once');
  await next.unlock();
  if (b) t.is(waits.length, 1, 'the wait is counted');
});

test.serial('two lockers never hold one upload at once', async (t) => {
  const [a, b] = database.kind === 'real' ? [await newLocker(), await newLocker()] : [lockers[0]!, lockers[0]!];
  const id = `busy-${Date.now()}`;
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

// On PGlite the fallback's locks live in the process, and die with it: nothing to test there.
const realDatabase = Boolean(process.env.UPLOAD_DATABASE_URL);
if (realDatabase) test.serial('a lock whose holder died is free again', async (t) => {
  const b = await newLocker();
  const id = `stale-${Date.now()}`;
  // A crashed instance: a session holding the advisory lock, then gone.
  const crashed = new pg.Client({ connectionString: database.url });
  await crashed.connect();
  const { createHash } = await import('node:crypto');
  const key = createHash('sha256').update(`govault-tus:${id}`).digest().readBigInt64BE(0).toString();
  await crashed.query('SELECT pg_advisory_lock($1)', [key]);
  const pid = (await crashed.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
  const killer = new pg.Pool({ connectionString: database.url, max: 1 });
  crashed.on('error', () => undefined);
  setTimeout(() => void killer.query('SELECT pg_terminate_backend($1)', [pid]), 300);
  const lock = b.locker.newLock(id);
  await lock.lock(never, () => undefined);
  t.pass('acquired after the holder died');
  await lock.unlock();
  await killer.end();
});
