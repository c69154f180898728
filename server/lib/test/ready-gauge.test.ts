import test from 'ava';
import { Registry } from 'prom-client';
import { readyGauge } from '../src/health.ts';

/** govault_ready is the /readyz verdict at scrape time: a failing or throwing check gives 0, never a failed scrape. */
const scrape = async (registry: Registry) => {
  const text = await registry.metrics();
  return Number(/^govault_ready (\S+)$/m.exec(text)?.[1]);
};

test('govault_ready is 1 while every check passes and 0 while one fails, evaluated at each scrape', async (t) => {
  const registry = new Registry();
  let databaseUp = true;
  readyGauge(registry, {
    database: async () => {
      if (!databaseUp) throw new Error('connection refused');
    },
    other: async () => undefined,
  });
  t.is(await scrape(registry), 1);
  databaseUp = false;
  t.is(await scrape(registry), 0);
  databaseUp = true;
  t.is(await scrape(registry), 1);
});

test('a check that throws synchronously gives 0, and the scrape still succeeds', async (t) => {
  const registry = new Registry();
  readyGauge(registry, {
    broken: () => {
      throw new Error('boom');
    },
  });
  t.is(await scrape(registry), 0);
});
