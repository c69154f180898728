import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { CredentialStore } from '../src/config/credentials.ts';
import { cliPaths } from '../src/config/paths.ts';
import { ResumeStore, type ResumeEntry } from '../src/upload/resume-store.ts';

const scratch = () => mkdtempSync(join(tmpdir(), 'govault-cli-'));

test('config and state follow the XDG variables, and ignore relative ones', (t) => {
  t.deepEqual(cliPaths({ HOME: '/home/ann', XDG_CONFIG_HOME: '/cfg', XDG_STATE_HOME: '/st' }), { configDir: '/cfg/govault', stateDir: '/st/govault' });
  t.deepEqual(cliPaths({ HOME: '/home/ann', XDG_CONFIG_HOME: 'relative' }), {
    configDir: '/home/ann/.config/govault',
    stateDir: '/home/ann/.local/state/govault',
  });
});

test('credentials are kept per server in a file only the user can read', async (t) => {
  const dir = scratch();
  const store = new CredentialStore(dir);
  await store.save('http://a.test', { email: 'a@x.test', userId: 'u1', refreshToken: 'r1' }, true);
  await store.save('http://b.test', { email: 'b@x.test', userId: 'u2', refreshToken: 'r2' });
  t.is((await store.get('http://a.test'))?.refreshToken, 'r1');
  t.is((await store.get('http://b.test'))?.email, 'b@x.test');
  t.is(await store.lastServer(), 'http://a.test', 'only a login changes the remembered server');
  t.is(statSync(join(dir, 'credentials.json')).mode & 0o777, 0o600);
  t.is(statSync(dir).mode & 0o777, 0o700);
  await store.forget('http://a.test');
  t.is(await store.get('http://a.test'), undefined);
  t.is((await store.get('http://b.test'))?.refreshToken, 'r2');
});

test('resume entries are per server and path, survive a new store, and can be forgotten', async (t) => {
  const dir = scratch();
  const entry: ResumeEntry = {
    server: 'http://a.test',
    path: '/data/film.mov',
    fingerprint: { size: 10, mtimeMs: 1, headSha256: 'ab' },
    sha256: 'cd',
    mode: 'tus',
    tusUrl: 'http://a.test/api/uploads/tus/123',
    startedAt: new Date().toISOString(),
  };
  new ResumeStore(dir).saveNow(entry);
  await new ResumeStore(dir).save({ ...entry, server: 'http://b.test', tusUrl: 'http://b.test/x' });
  const again = new ResumeStore(dir);
  t.is((await again.get('http://a.test', '/data/film.mov'))?.tusUrl, 'http://a.test/api/uploads/tus/123');
  t.deepEqual((await again.all('http://b.test')).map((e) => e.tusUrl), ['http://b.test/x']);
  await again.forget('http://a.test', '/data/film.mov');
  t.is(await again.get('http://a.test', '/data/film.mov'), undefined);
  t.truthy(await again.get('http://b.test', '/data/film.mov'));
});
