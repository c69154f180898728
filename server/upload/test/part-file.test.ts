import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import test from 'ava';
import { PartFile } from '../src/storage/part-file.ts';

const dir = mkdtempSync(join(tmpdir(), 'govault-part-file-'));

test('a part written in pieces of every size reads back byte for byte', async (t) => {
  // 3,000 one-byte pieces put more buffers in one batch than one writev takes (1,024).
  const pieces = [...Array.from({ length: 3000 }, () => randomBytes(1)), randomBytes(64 * 1024), randomBytes(3 * 1024 * 1024 + 17), randomBytes(5)];
  const file = await PartFile.create(dir);
  for (const piece of pieces) await file.append(piece);
  await file.close();
  const expected = Buffer.concat(pieces);
  t.is(file.size, expected.length);
  t.true((await buffer(file.read())).equals(expected));
  await file.remove();
  t.false(existsSync(file.path), 'removed from disk');
});

test('an empty part reads back empty, and remove is safe before close', async (t) => {
  const file = await PartFile.create(dir);
  await file.remove();
  t.false(existsSync(file.path));
  const empty = await PartFile.create(dir);
  await empty.close();
  t.is((await buffer(empty.read())).length, 0);
  await empty.remove();
});
