// The Redis guard .ci/run starts with: a Redis that does not answer stops CI at once with
// a message naming the address; the real one passes.

import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { ROOT, run } from './helpers.mjs';

const check = (...args) => run(process.execPath, [`${ROOT}.ci/check-redis.mjs`, ...args]);

async function closedPort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test('REDIS_URL at a closed port: exit 1 and a message saying it cannot be reached', async () => {
  const port = await closedPort();
  const r = await check(`redis://127.0.0.1:${port}`);
  assert.equal(r.status, 1, r.output);
  assert.equal(r.output.trim(), `Redis check failed: cannot reach redis://127.0.0.1:${port} (ECONNREFUSED)`);
});

test('something that is not Redis (accepts, then closes or says nothing): exit 1', async () => {
  const sockets = new Set();
  const track = (socket) => {
    sockets.add(socket.on('close', () => sockets.delete(socket)));
    return socket;
  };
  const closing = createServer((socket) => track(socket).end());
  const silent = createServer((socket) => track(socket).resume()); // reads, never answers
  await Promise.all([closing, silent].map((s) => new Promise((resolve) => s.listen(0, '127.0.0.1', resolve))));
  try {
    const closed = await check(`redis://127.0.0.1:${closing.address().port}`);
    assert.equal(closed.status, 1, closed.output);
    assert.match(closed.output, /closed the connection before answering PING/);
    const mute = await check(`redis://127.0.0.1:${silent.address().port}`, '--timeout-ms', '300');
    assert.equal(mute.status, 1, mute.output);
    assert.match(mute.output, /no answer from .* within 300 ms/);
  } finally {
    for (const socket of sockets) socket.destroy();
    await Promise.all([closing, silent].map((s) => new Promise((resolve) => s.close(resolve))));
  }
});

test('a URL that is not redis:// fails with the reason', async () => {
  const r = await check('http://127.0.0.1:6379');
  assert.equal(r.status, 1, r.output);
  assert.match(r.output, /is not a redis:\/\/ or rediss:\/\/ URL/);
});

test('the real Redis of this machine (REDIS_URL, or 127.0.0.1:6379) answers PING', async () => {
  const url = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
  const r = await check(url);
  assert.equal(r.status, 0, r.output);
  assert.match(r.output, /^Redis answers PING at redis/);
});
