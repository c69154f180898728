import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { loadSigningKeys, rotateSigningKey } from '../src/token/signing-keys.ts';

test('the first start makes one key; after a rotation the new key signs and both are published', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'govault-signing-'));
  const first = loadSigningKeys(dir);
  t.is(first.jwks().keys.length, 1);
  t.is((statSync(join(dir, 'signing.key')).mode & 0o777).toString(8), '600');

  const kid = rotateSigningKey(dir, new Date('2030-01-01T00:00:00Z'));
  const rotated = loadSigningKeys(dir);
  t.is(rotated.current.kid, kid);
  t.deepEqual(rotated.jwks().keys.map((k) => k.kid), [kid, first.current.kid]);

  const later = rotateSigningKey(dir, new Date('2031-06-01T00:00:00Z'));
  t.is(loadSigningKeys(dir).current.kid, later, 'the newest stamp signs');
  t.is(readdirSync(dir).filter((f) => f.endsWith('.key')).length, 3);
});

test('keys that are symlinks (a Kubernetes Secret volume links each name into ..data) are loaded, not replaced', (t) => {
  const source = mkdtempSync(join(tmpdir(), 'govault-signing-source-'));
  const first = loadSigningKeys(source).current.kid;
  const later = rotateSigningKey(source, new Date('2030-01-01T00:00:00Z'));
  const mounted = mkdtempSync(join(tmpdir(), 'govault-signing-mounted-'));
  mkdirSync(join(mounted, '..data'));
  for (const name of readdirSync(source).filter((f) => f.endsWith('.key'))) {
    copyFileSync(join(source, name), join(mounted, '..data', name));
    symlinkSync(join('..data', name), join(mounted, name));
  }
  const ring = loadSigningKeys(mounted);
  t.is(ring.current.kid, later);
  t.deepEqual(ring.jwks().keys.map((k) => k.kid), [later, first]);
  t.deepEqual(readdirSync(mounted).filter((f) => !f.startsWith('..')).sort(), readdirSync(source).filter((f) => f.endsWith('.key')).sort(), 'no key of its own was written');
});
