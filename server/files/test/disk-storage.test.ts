import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { DiskObjectStorage } from '../src/storage/disk-object-storage.ts';

/** The disk store when its folder goes away (a volume not mounted) and comes back. */
function folder(t: { teardown(fn: () => void): void }) {
  const parent = mkdtempSync(join(tmpdir(), 'govault-disk-'));
  t.teardown(() => rmSync(parent, { recursive: true, force: true }));
  return { root: join(parent, 'files'), parked: join(parent, 'parked') };
}

test('the first check makes the folder; once it has gone the store is not ready, and nothing makes an empty one in its place', async (t) => {
  const { root, parked } = folder(t);
  const store = new DiskObjectStorage(root);
  await store.check();
  t.true(existsSync(root));
  renameSync(root, parked);
  await t.throwsAsync(() => store.check(), { message: /storage folder .* is not there/ });
  t.false(existsSync(root), 'no empty folder was made where the volume was');
  renameSync(parked, root);
  await t.notThrowsAsync(() => store.check());
});

test('a delete while the folder is away fails (so it is retried) and removes the object once the folder is back', async (t) => {
  const { root, parked } = folder(t);
  mkdirSync(root);
  writeFileSync(join(root, 'abc'), 'bytes');
  writeFileSync(join(root, 'abc.json'), '{}');
  const store = new DiskObjectStorage(root);
  renameSync(root, parked);
  await t.throwsAsync(() => store.delete('abc'), { message: /storage folder .* is not there/ });
  renameSync(parked, root);
  await store.delete('abc');
  t.false(existsSync(join(root, 'abc')));
  t.false(existsSync(join(root, 'abc.json')));
  await t.notThrowsAsync(() => store.delete('abc'), 'an object already gone is deleted');
});
