import { MemoryLocker } from '@tus/server';
import test from 'ava';
import { tellingHolder } from '../src/tus/lock-scope.ts';
import { LockedViews } from '../src/storage/locked-view.ts';

/** The views of the S3 store live exactly while this process holds an upload's tus lock. */
const noRelease = async () => undefined;

test('a view opens when the lock is taken and closes before it is given back', async (t) => {
  const views = new LockedViews();
  const inner = new MemoryLocker();
  const locker = tellingHolder(inner, views);
  const lock = locker.newLock('u1');
  t.is(views.of('u1'), undefined, 'no view before the lock');
  await lock.lock(new AbortController().signal, noRelease);
  views.of('u1')!.incompletePartSize = null;
  t.deepEqual(views.of('u1'), { incompletePartSize: null }, 'the holder writes into its view');
  views.forget('u1');
  t.deepEqual(views.of('u1'), {}, 'forget empties it, still held');

  // Another request waits for the lock; when it gets it, the first request's view is gone.
  const second = locker.newLock('u1');
  let viewWhenSecondHolds: unknown = 'unset';
  const waiting = second.lock(new AbortController().signal, noRelease).then(() => {
    viewWhenSecondHolds = views.of('u1');
  });
  views.of('u1')!.incompletePartSize = 5;
  await lock.unlock();
  await waiting;
  t.deepEqual(viewWhenSecondHolds, {}, 'the next holder starts from nothing');
  await second.unlock();
  t.is(views.of('u1'), undefined, 'no view once no one holds the lock');
});

