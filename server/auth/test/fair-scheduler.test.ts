import test from 'ava';
import { ClientQueueFull, FairScheduler } from '../src/password/fair-scheduler.ts';

/** Tasks that finish when the test says so, and a log of the order they started in. */
function fakeWork() {
  const started: string[] = [];
  const pending: Array<{ label: string; finish(): void }> = [];
  const task = (label: string) => () =>
    new Promise<string>((resolve) => {
      started.push(label);
      pending.push({ label, finish: () => resolve(label) });
    });
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  /** Finishes the oldest running task, then lets the scheduler start the next ones. */
  const finishOne = async () => {
    pending.shift()!.finish();
    await settle();
  };
  return { started, task, settle, finishOne, running: () => pending.map((p) => p.label) };
}

test('never runs more than `concurrency` tasks at once', async (t) => {
  const scheduler = new FairScheduler({ concurrency: 3, maxQueuedPerClient: 100 });
  const work = fakeWork();
  const done = ['a', 'b', 'c', 'd', 'e'].flatMap((client) => [1, 2].map((n) => scheduler.run(client, work.task(`${client}${n}`))));
  await work.settle();
  for (let i = 0; i < 10; i++) {
    t.true(work.running().length <= 3, `running ${work.running().join(',')}`);
    t.is(scheduler.load.running, work.running().length);
    await work.finishOne();
  }
  t.is((await Promise.all(done)).length, 10);
  t.deepEqual(scheduler.load, { running: 0, waiting: 0 });
});

test('a newcomer is served at the next free slot, before the flood that was queued first', async (t) => {
  const scheduler = new FairScheduler({ concurrency: 2, maxQueuedPerClient: 50 });
  const work = fakeWork();
  const flood = Array.from({ length: 20 }, (_, i) => scheduler.run('A', work.task(`A${i}`)));
  await work.settle();
  t.deepEqual(work.running(), ['A0'], 'one client holds all slots but one');

  const newcomer = scheduler.run('B', work.task('B'));
  await work.settle();
  t.deepEqual(work.running(), ['A0', 'B'], 'the slot left free goes to B at once');
  await work.finishOne();
  await work.finishOne();
  t.is(await newcomer, 'B');
  while (work.running().length > 0) await work.finishOne();
  t.is((await Promise.all(flood)).length, 20);
});

test('free slots go round robin across the clients that wait', async (t) => {
  const scheduler = new FairScheduler({ concurrency: 1, maxQueuedPerClient: 10 });
  const work = fakeWork();
  const all = [
    ...[1, 2, 3].map((n) => scheduler.run('A', work.task(`A${n}`))),
    ...[1, 2].map((n) => scheduler.run('B', work.task(`B${n}`))),
    scheduler.run('C', work.task('C1')),
  ];
  await work.settle();
  while (work.running().length > 0) await work.finishOne();
  await Promise.all(all);
  t.deepEqual(work.started, ['A1', 'B1', 'C1', 'A2', 'B2', 'A3']);
});

test("a client whose queue is full is refused with a Retry-After; other clients are not", async (t) => {
  const scheduler = new FairScheduler({ concurrency: 2, maxQueuedPerClient: 3 });
  const work = fakeWork();
  const accepted = Array.from({ length: 4 }, (_, i) => scheduler.run('A', work.task(`A${i}`)));
  const refused = await t.throwsAsync(scheduler.run('A', work.task('A-extra')), { instanceOf: ClientQueueFull });
  t.true(refused!.retryAfterSeconds >= 1);
  t.false(work.started.includes('A-extra'), 'a refused task never runs');

  const other = scheduler.run('B', work.task('B'));
  await work.settle();
  t.true(work.running().includes('B'));
  while (work.running().length > 0) await work.finishOne();
  await Promise.all([...accepted, other]);
  await t.notThrowsAsync(scheduler.run('A', async () => 'room again'));
});

test('a failing task frees its slot and fails only its own caller', async (t) => {
  const scheduler = new FairScheduler({ concurrency: 1, maxQueuedPerClient: 5 });
  const failing = scheduler.run('A', async () => {
    throw new Error('bcrypt broke');
  });
  const throwingAtOnce = scheduler.run('A', () => {
    throw new Error('threw before returning a promise');
  });
  const next = scheduler.run('B', async () => 'ok');
  await t.throwsAsync(failing, { message: 'bcrypt broke' });
  await t.throwsAsync(throwingAtOnce, { message: /threw before/ });
  t.is(await next, 'ok');
  t.deepEqual(scheduler.load, { running: 0, waiting: 0 });
});
