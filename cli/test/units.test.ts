import test from 'ava';
import { parseId, parseSize } from '../src/units.ts';

test('sizes read as people write them', (t) => {
  t.is(parseSize('8MiB'), 8 * 1024 * 1024);
  t.is(parseSize('5 MB'), 5_000_000);
  t.is(parseSize('1048576'), 1_048_576);
  t.is(parseSize('1.5KiB'), 1536);
  for (const bad of ['', '0', '-1', '8 parsecs', 'MiB', '1e9']) t.throws(() => parseSize(bad), undefined, bad);
});

test('a file id is a UUID, anything else a usage error before any request', (t) => {
  t.is(parseId('0F8C2D1E-4B7A-4C2E-9A51-3D6F0E9B2C47'), '0f8c2d1e-4b7a-4c2e-9a51-3d6f0e9b2c47');
  for (const bad of ['nope', '../etc', '0f8c2d1e4b7a4c2e9a513d6f0e9b2c47', '']) t.throws(() => parseId(bad), undefined, bad);
});
