import test from 'ava';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { freePorts } from '@govault/lib';
import { eventually } from '@govault/lib/testing';
import { finished, runImage, startImage, tempDir } from './image-process.ts';

/** /healthz answers 200, /sick 503: the two answers a probe tells apart. */
async function probeTarget(t: { teardown(fn: () => void): void }): Promise<string> {
  const server: Server = createServer((req, res) => {
    res.statusCode = req.url === '/healthz' ? 200 : 503;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('healthcheck URL: 0 when it answers 200, 1 when it answers otherwise or not at all', async (t) => {
  const base = await probeTarget(t);
  const [closed] = await freePorts(1);
  t.is((await runImage(['healthcheck', `${base}/healthz`], {})).status, 0);
  const sick = await runImage(['healthcheck', `${base}/sick`], {});
  t.is(sick.status, 1);
  t.regex(sick.stderr, /answered 503/);
  const dead = await runImage(['healthcheck', `http://127.0.0.1:${closed}/healthz`], {});
  t.is(dead.status, 1);
  t.regex(dead.stderr, /ECONNREFUSED/);
});

test('healthcheck without URL probes the noted one, and passes when nothing was noted (one-shot jobs)', async (t) => {
  const base = await probeTarget(t);
  const dir = tempDir('healthz');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'healthz-url');
  t.is((await runImage(['healthcheck'], { GOVAULT_HEALTHZ_URL_FILE: file })).status, 0, 'no file: a one-shot, healthy');
  writeFileSync(file, `${base}/healthz\n`);
  t.is((await runImage(['healthcheck'], { GOVAULT_HEALTHZ_URL_FILE: file })).status, 0);
  writeFileSync(file, `${base}/sick\n`);
  t.is((await runImage(['healthcheck'], { GOVAULT_HEALTHZ_URL_FILE: file })).status, 1);
});

test('a service started by its word notes its healthz URL, answers the healthcheck, and stops cleanly on SIGTERM', async (t) => {
  const dir = tempDir('gateway');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.is((await runImage(['keys'], { KEYS_DIR: join(dir, 'keys') })).status, 0);
  mkdirSync(join(dir, 'web'));
  writeFileSync(join(dir, 'web', 'index.html'), '<!doctype html><title>GoVault</title>');
  const [port, metricsPort] = await freePorts(2);
  const file = join(dir, 'healthz-url');
  const env = {
    HOST: '0.0.0.0', // as the image sets it: probed on loopback
    GATEWAY_PORT: String(port),
    GATEWAY_METRICS_PORT: String(metricsPort),
    INTERNAL_KEY_DIR: join(dir, 'keys', 'gateway'),
    WEB_APP_DIR: join(dir, 'web'),
    LOG_LEVEL: 'warn',
    GOVAULT_HEALTHZ_URL_FILE: file,
  };
  const gateway = startImage(['gateway'], env);
  const exit = finished(gateway, 60_000);
  t.teardown(() => void gateway.kill('SIGKILL'));

  t.true(await eventually(async () => existsSync(file) && (await runImage(['healthcheck'], { GOVAULT_HEALTHZ_URL_FILE: file })).status === 0, 30_000, 250));
  t.is(readFileSync(file, 'utf8').trim(), `http://127.0.0.1:${port}/healthz`);

  gateway.kill('SIGTERM');
  const stopped = await exit;
  t.is(stopped.status, 0, stopped.stderr);
  t.is((await runImage(['healthcheck'], { GOVAULT_HEALTHZ_URL_FILE: file })).status, 1, 'a stopped service is unhealthy');
});

test('an unknown or missing command word prints the usage and exits 2', async (t) => {
  for (const args of [['nonsense'], []]) {
    const run = await runImage(args, {});
    t.is(run.status, 2);
    t.regex(run.stderr, /usage: govault-image <command>/);
  }
});
