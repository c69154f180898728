import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { PartUrlSigner } from '../src/multipart/part-url-signer.ts';
import { partSizeGuidance, verifyPartList } from '../src/multipart/part-list.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const stored = [
  { partNumber: 1, size: 5 * MiB, etag: '"aa"' },
  { partNumber: 2, size: 5 * MiB, etag: '"bb"' },
  { partNumber: 3, size: 10, etag: '"cc"' },
];

test('a part list is checked against the stored parts: numbers, bare ETags, sizes, total', (t) => {
  const ok = verifyPartList([{ partNumber: 3, etag: 'cc' }, { partNumber: 1, etag: '"aa"' }, { partNumber: 2, etag: 'bb' }], stored, GiB);
  t.deepEqual(ok.map((p) => p.partNumber), [1, 2, 3], 'sorted for S3, quotes ignored');
  t.throws(() => verifyPartList([{ partNumber: 1, etag: 'zz' }], stored, GiB), { message: /part 1: the ETag does not match/ });
  t.throws(() => verifyPartList([{ partNumber: 4, etag: 'cc' }], stored, GiB), { message: /part 4 has not been uploaded/ });
  t.throws(() => verifyPartList([{ partNumber: 3, etag: 'cc' }, { partNumber: 2, etag: 'bb' }, { partNumber: 2, etag: 'bb' }], stored, GiB), { message: /listed twice/ });
  const smallMiddle = [stored[0]!, { partNumber: 2, size: 10, etag: '"bb"' }, stored[2]!];
  t.throws(() => verifyPartList([{ partNumber: 1, etag: 'aa' }, { partNumber: 2, etag: 'bb' }, { partNumber: 3, etag: 'cc' }], smallMiddle, GiB), { message: /part 2 has 10 bytes/ });
  t.throws(() => verifyPartList([{ partNumber: 1, etag: 'aa' }, { partNumber: 2, etag: 'bb' }], stored, 10 * MiB - 1), { message: /maximum file size/ });
});

test('part-size guidance fits any allowed file in 10,000 parts', (t) => {
  t.is(partSizeGuidance(5 * GiB).partSize, 5 * MiB);
  const huge = partSizeGuidance(1024 * GiB);
  t.true(huge.partSize * 10_000 >= 1024 * GiB);
  t.is(huge.partSize % MiB, 0);
  t.true(partSizeGuidance(1024 * GiB, 100 * MiB).partSize === 5 * MiB, 'an announced small file keeps small parts');
});

test('a part URL signature is bound to upload, part and expiry, and expires', (t) => {
  const keyFile = join(mkdtempSync(join(tmpdir(), 'govault-signer-')), 'multipart-signing.key');
  let now = 1_000_000_000_000;
  const signer = new PartUrlSigner(keyFile, 60, () => now);
  const query = new URLSearchParams(signer.sign('a'.repeat(32), 3));
  const [expires, signature] = [query.get('expires')!, query.get('signature')!];
  t.is(statSync(keyFile).mode & 0o777, 0o600, 'the key is private to its owner');
  t.is(signer.check('a'.repeat(32), 3, expires, signature), 'valid');
  t.is(signer.check('a'.repeat(32), 4, expires, signature), 'invalid');
  t.is(signer.check('b'.repeat(32), 3, expires, signature), 'invalid');
  t.is(signer.check('a'.repeat(32), 3, String(Number(expires) + 60), signature), 'invalid');
  t.is(signer.check('a'.repeat(32), 3, expires, undefined), 'invalid');
  t.is(new PartUrlSigner(keyFile, 60, () => now).check('a'.repeat(32), 3, expires, signature), 'valid', 'another instance shares the key');
  now += 61_000;
  t.is(signer.check('a'.repeat(32), 3, expires, signature), 'expired');
});
