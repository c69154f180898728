import test from 'ava';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { parseConfig } from '@govault/lib';
import { openTestBucket, testS3 } from '@govault/lib/testing';
import { filesConfigSchema } from '../src/index.ts';
import { call, createUser, newFile, startHarness, type Harness } from './support.ts';

/**
 * A presigned download URL cannot be revoked: S3 checks only its signature and expiry.
 * So it must be short-lived; these tests show both the default lifetime and that the URL
 * really outlives a revocation until it expires (the limit the README states).
 */
test('presigned download URLs live 60 seconds unless configured otherwise', (t) => {
  const base = { FILES_DATABASE_URL: 'postgres://127.0.0.1/files', INTERNAL_KEY_DIR: '/tmp/keys' };
  t.is(parseConfig(filesConfigSchema, base).downloadUrlTtlSeconds, 60);
  t.is(parseConfig(filesConfigSchema, { ...base, DOWNLOAD_URL_TTL_SECONDS: '15' }).downloadUrlTtlSeconds, 15);
});

// Registered only where S3 is configured; CI requires it, so there it always runs.
const real = testS3();
if (real) {
  let h: Harness;
  test.before(async () => {
    h = await startHarness();
  });
  test.after.always(async () => h?.stop());

  /** The presigned URL a download redirects to; the redirect itself must not be cached. */
  const redirectOf = async (fileId: string, userId: string, base: string) => {
    const answer = await call(h, userId, `/api/files/${fileId}/content`, { base });
    if (answer.status !== 302 || answer.headers.get('cache-control') !== 'no-store') {
      throw new Error(`content answered ${answer.status}, Cache-Control ${answer.headers.get('cache-control')}`);
    }
    return new URL(answer.headers.get('location')!);
  };

  async function storedFile(owner: string, bytes: string) {
    const client = await openTestBucket(real!);
    const file = await newFile(h, owner, {}, bytes);
    const { rows } = await h.sql.query<{ storage_key: string }>('SELECT storage_key FROM files.files WHERE id = $1', [file.id]);
    await client.send(new PutObjectCommand({ Bucket: real!.bucket, Key: rows[0]!.storage_key, Body: bytes }));
    client.destroy();
    return file;
  }

  test('S3 mode: the redirect of a download is signed for 60 seconds by default', async (t) => {
    const s3App = await h.startFiles(real.env);
    const owner = await createUser(h, 'Owner');
    const file = await storedFile(owner.id, 'sixty');
    const url = await redirectOf(file.id, owner.id, s3App.url);
    t.is(url.searchParams.get('X-Amz-Expires'), '60');
    t.is(await (await fetch(url)).text(), 'sixty');
  });

  test('S3 mode: a presigned URL still works after the share is revoked, and stops when it expires', async (t) => {
    const s3App = await h.startFiles({ ...real.env, DOWNLOAD_URL_TTL_SECONDS: '2' });
    const [owner, reader] = await Promise.all([createUser(h, 'Owner'), createUser(h, 'Reader')]);
    const file = await storedFile(owner.id, 'shared bytes');
    await call(h, owner.id, `/api/files/${file.id}/shares`, { method: 'POST', body: { userId: reader.id, role: 'viewer' }, base: s3App.url });
    const url = await redirectOf(file.id, reader.id, s3App.url);
    const issued = Date.now();
    t.is(url.searchParams.get('X-Amz-Expires'), '2');

    t.is((await call(h, owner.id, `/api/files/${file.id}/shares/${reader.id}`, { method: 'DELETE', base: s3App.url })).status, 204);
    t.is((await call(h, reader.id, `/api/files/${file.id}/content`, { base: s3App.url })).status, 404, 'no new URL for the reader');
    // The limit of presigned URLs: the one already issued still answers until it expires.
    t.is((await fetch(url)).status, 200);

    // X-Amz-Date has a resolution of one second; wait well past the expiry.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, issued + 4_500 - Date.now())));
    t.is((await fetch(url)).status, 403);
  });
}
