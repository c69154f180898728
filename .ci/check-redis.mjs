#!/usr/bin/env node
// Usage: node .ci/check-redis.mjs <redis-url> [--timeout-ms N]
//
// CI's Redis guard: sends PING (after AUTH and SELECT when the URL carries a password
// or a database number) and exits 0 only on +PONG. Anything else (a closed port, a
// timeout, an error reply, a URL that is not redis://) prints one line saying what
// failed and exits 1: with REDIS_URL exported the gateway's Redis rate-limit suites
// would fail later, slower and less clearly. rediss:// (TLS) is checked over TLS.

import net from 'node:net';
import tls from 'node:tls';

const args = process.argv.slice(2);
const url = args[0];
const timeoutIndex = args.indexOf('--timeout-ms');
const timeoutMs = timeoutIndex > 0 ? Number(args[timeoutIndex + 1]) : 5_000;

function fail(message) {
  console.error(`Redis check failed: ${message}`);
  process.exit(1);
}

if (!url) {
  console.error('usage: check-redis.mjs <redis-url> [--timeout-ms N]');
  process.exit(2);
}
let parsed;
try {
  parsed = new URL(url);
} catch {
  fail(`REDIS_URL=${url} is not a URL`);
}
if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') fail(`REDIS_URL=${url} is not a redis:// or rediss:// URL`);

const host = parsed.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
const port = Number(parsed.port || 6379);
const shown = `${parsed.protocol}//${parsed.host}${parsed.pathname}`; // without the password
const db = parsed.pathname.replace(/^\//, '');

// RESP arrays of bulk strings: each command gets exactly one reply.
const encode = (...words) => `*${words.length}\r\n${words.map((w) => `$${Buffer.byteLength(w)}\r\n${w}\r\n`).join('')}`;
const commands = [];
if (parsed.password) {
  const password = decodeURIComponent(parsed.password);
  commands.push(parsed.username ? encode('AUTH', decodeURIComponent(parsed.username), password) : encode('AUTH', password));
}
if (db) commands.push(encode('SELECT', db));
commands.push(encode('PING'));

const socket = parsed.protocol === 'rediss:' ? tls.connect({ host, port, servername: host }) : net.connect({ host, port });
const timer = setTimeout(() => fail(`no answer from ${shown} within ${timeoutMs} ms`), timeoutMs);
let buffer = '';
let replies = 0;
socket.once(parsed.protocol === 'rediss:' ? 'secureConnect' : 'connect', () => socket.write(commands.join('')));
socket.on('data', (chunk) => {
  buffer += chunk.toString('utf8');
  let end;
  while ((end = buffer.indexOf('\r\n')) >= 0) {
    const reply = buffer.slice(0, end);
    buffer = buffer.slice(end + 2);
    replies += 1;
    if (reply.startsWith('-')) fail(`${shown} answered ${reply.slice(1)}`);
    if (replies === commands.length) {
      if (reply !== '+PONG') fail(`${shown} answered PING with ${JSON.stringify(reply)}`);
      clearTimeout(timer);
      socket.end();
      console.log(`Redis answers PING at ${shown}`);
      process.exit(0);
    }
  }
});
socket.on('error', (error) => fail(`cannot reach ${shown} (${error.code ?? error.message})`));
socket.on('close', () => fail(`${shown} closed the connection before answering PING`));
