import { randomUUID } from 'node:crypto';
import test from 'ava';
import { createLogger, migrate, openOrm } from '@govault/lib';
import { testDatabase } from '@govault/lib/testing';
import { fileURLToPath } from 'node:url';
import { MemoryLoginThrottle, PostgresLoginThrottle, type LoginThrottle, type LoginThrottlePolicy } from '../src/token/login-throttle.ts';

/** One contract for both throttles: the in-memory reference and the PostgreSQL one auth runs with. */
const policy: LoginThrottlePolicy = { maxFailures: 3, windowSeconds: 2 };
const migrationsDir = fileURLToPath(new URL('../../../migrations/auth', import.meta.url));

const db = await testDatabase('auth');
const settings = { url: db.url, schema: 'auth', migrationsDir };
await migrate(settings, createLogger('test', 'silent'));
const orm = await openOrm(settings, []);
test.after.always(async () => {
  await orm.close();
  await db.stop();
});

const implementations: Record<string, () => LoginThrottle> = {
  memory: () => new MemoryLoginThrottle(policy),
  [`postgres (${db.kind})`]: () => new PostgresLoginThrottle(orm, policy),
};

for (const [name, make] of Object.entries(implementations)) {
  const email = () => `Someone-${randomUUID()}@Example.com`;

  test(`${name}: an email may fail maxFailures times, then waits until its window ends`, async (t) => {
    const throttle = make();
    const address = email();
    for (let i = 0; i < policy.maxFailures; i++) {
      t.is(await throttle.retryAfter(address), 0);
      await throttle.recordFailure(address);
    }
    const wait = await throttle.retryAfter(address.toLowerCase());
    t.true(wait >= 1 && wait <= policy.windowSeconds, `waits ${wait} s`);
    t.is(await throttle.retryAfter(email()), 0, 'other emails are not affected');
  });

  test(`${name}: a new window starts over`, async (t) => {
    const throttle = make();
    const address = email();
    for (let i = 0; i < policy.maxFailures; i++) await throttle.recordFailure(address);
    await new Promise((r) => setTimeout(r, policy.windowSeconds * 1000 + 200));
    t.is(await throttle.retryAfter(address), 0);
    await throttle.recordFailure(address);
    t.is(await throttle.retryAfter(address), 0, 'one failure in the new window');
  });

  test(`${name}: reset forgets the failures`, async (t) => {
    const throttle = make();
    const address = email();
    for (let i = 0; i < policy.maxFailures; i++) await throttle.recordFailure(address);
    await throttle.reset(address);
    t.is(await throttle.retryAfter(address), 0);
  });
}
