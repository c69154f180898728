import { randomBytes } from 'node:crypto';
import { buffer } from 'node:stream/consumers';
import { crc32 } from 'node:zlib';
import test from 'ava';
import { MemoryPart, PartBufferPool } from '../src/storage/held-part.ts';
import { crc32Header } from '../src/storage/part-file.ts';

const KiB = 1024;

test('a part held in memory reads back byte for byte, with the CRC32 node:zlib computes', async (t) => {
  const pool = new PartBufferPool(256 * KiB, 256 * KiB);
  const pieces = [...Array.from({ length: 300 }, () => randomBytes(1)), randomBytes(64 * KiB), randomBytes(100 * KiB + 17), randomBytes(5)];
  const part = new MemoryPart(pool.take()!, pool);
  for (const piece of pieces) await part.append(piece);
  const expected = Buffer.concat(pieces);
  t.is(part.size, expected.length);
  t.is(part.checksum, crc32Header(crc32(expected)));
  t.true((await buffer(part.read())).equals(expected));
});

test('the pool never holds more than its budget: past it, take answers nothing until a part is removed', async (t) => {
  const pool = new PartBufferPool(64 * KiB, 200 * KiB);
  const parts = [pool.take(), pool.take(), pool.take()].map((b) => new MemoryPart(b!, pool));
  t.is(pool.take(), undefined, 'three 64 KiB buffers fit in 200 KiB, a fourth does not');
  t.is(pool.bytesInUse, 192 * KiB);
  await parts[0]!.remove();
  await parts[0]!.remove();
  t.is(pool.bytesInUse, 128 * KiB, 'removing twice gives the buffer back once');
  t.truthy(pool.take(), 'a removed part frees its buffer');
  t.is(pool.take(), undefined);
  t.is(new PartBufferPool(64 * KiB, 0).take(), undefined, 'a budget of 0 holds every part on disk');
});

test('a part refuses more bytes than its buffer holds, and a removed part is not read', async (t) => {
  const pool = new PartBufferPool(4 * KiB, 4 * KiB);
  const part = new MemoryPart(pool.take()!, pool);
  await part.append(randomBytes(4 * KiB - 1));
  await t.throwsAsync(part.append(randomBytes(2)), { instanceOf: RangeError });
  await part.remove();
  t.throws(() => part.read());
  await t.throwsAsync(part.append(randomBytes(1)));
});

test('the next part in a reused buffer reads back only its own bytes', async (t) => {
  const pool = new PartBufferPool(8 * KiB, 8 * KiB);
  const first = new MemoryPart(pool.take()!, pool);
  await first.append(Buffer.alloc(8 * KiB, 1));
  await first.remove();
  const second = new MemoryPart(pool.take()!, pool);
  const bytes = randomBytes(100);
  await second.append(bytes);
  t.true((await buffer(second.read())).equals(bytes));
});

test('with the budget spent, takeWithin waits for a buffer given back, first come first served, and gives up after its wait', async (t) => {
  const pool = new PartBufferPool(64 * KiB, 64 * KiB);
  const only = (await pool.takeWithin(1_000))!;
  t.truthy(only, 'a free buffer at once');
  const order: string[] = [];
  const first = pool.takeWithin(5_000).then((b) => (order.push('first'), b));
  const second = pool.takeWithin(5_000).then((b) => (order.push('second'), b));
  const late = Date.now();
  t.is(await pool.takeWithin(50), undefined, 'nothing after the wait, while the others still wait');
  t.true(Date.now() - late >= 45, 'it did wait');
  pool.give(only);
  t.is(await first, only, 'the buffer given back goes to the first waiter');
  pool.give(only);
  t.is(await second, only);
  t.deepEqual(order, ['first', 'second']);
  t.is(pool.bytesInUse, 64 * KiB, 'and stays counted as in use');
  t.is(await new PartBufferPool(64 * KiB, 0).takeWithin(5_000), undefined, 'no budget: nothing, without waiting');
});
