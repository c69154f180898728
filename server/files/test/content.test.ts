import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiskObjectStorage } from '../src/storage/disk-object-storage.ts';
import { attachmentDisposition } from '../src/storage/content-disposition.ts';
import { isSafeStorageKey } from '../src/storage/object-storage.ts';
import { parseRange } from '../src/file/range.ts';

test('a Range header selects one byte range, or none when the server should send everything', (t) => {
  t.deepEqual(parseRange('bytes=2-5', 10), { start: 2, end: 5 });
  t.deepEqual(parseRange('bytes=2-', 10), { start: 2, end: 9 });
  t.deepEqual(parseRange('bytes=-3', 10), { start: 7, end: 9 });
  t.deepEqual(parseRange('bytes=-30', 10), { start: 0, end: 9 });
  t.deepEqual(parseRange('bytes=8-100', 10), { start: 8, end: 9 });
  t.is(parseRange('bytes=10-', 10), 'unsatisfiable');
  t.is(parseRange('bytes=-0', 10), 'unsatisfiable');
  t.is(parseRange('bytes=0-', 0), 'unsatisfiable');
  t.is(parseRange(undefined, 10), undefined);
  t.is(parseRange('bytes=5-2', 10), undefined);
  t.is(parseRange('bytes=0-1,3-4', 10), undefined);
  t.is(parseRange('items=0-1', 10), undefined);
  t.is(parseRange('bytes=-', 10), undefined);
});

test('Content-Disposition carries an ASCII fallback and the UTF-8 name (RFC 6266/5987)', (t) => {
  t.is(
    attachmentDisposition('résumé 東京.txt'),
    `attachment; filename="resume __.txt"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%E6%9D%B1%E4%BA%AC.txt`,
  );
  t.is(attachmentDisposition(`a "quoted" (1)'s.txt`), `attachment; filename="a _quoted_ (1)'s.txt"; filename*=UTF-8''a%20%22quoted%22%20%281%29%27s.txt`);
  t.is(attachmentDisposition('東京'), `attachment; filename="__"; filename*=UTF-8''%E6%9D%B1%E4%BA%AC`);
});

test('storage keys cannot leave the store', async (t) => {
  for (const key of ['3f2a9c', 'a/b/c.bin', 'x_y-z.1', 'multipart/2024/ab']) t.true(isSafeStorageKey(key), key);
  for (const key of ['', '..', '../etc/passwd', 'a/../../b', '/abs', 'a//b', 'a/', './a', 'a\\b', 'a b', 'é']) {
    t.false(isSafeStorageKey(key), key);
  }
  const root = mkdtempSync(join(tmpdir(), 'govault-store-'));
  writeFileSync(join(root, 'inside'), 'ok');
  const store = new DiskObjectStorage(root);
  await t.throwsAsync(store.content('../outside'));
  t.is(await store.content('missing'), undefined);
  t.like(await store.content('inside'), { kind: 'local', size: 2 });
});
