#!/usr/bin/env node
// Checks that the S3 server of the run does what GoVault needs, using the same S3_*
// variables as the tests: put/get, a two-part multipart upload (5 MiB parts), a
// presigned PUT and a presigned UploadPart used by plain fetch, and a CORS preflight
// that exposes ETag. Cleans up after itself. Exit status 1 on the first failure.
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { createHash, randomBytes } from 'node:crypto';

// The AWS SDK warns once that its releases after January 2027 need Node 22: noise here.
process.removeAllListeners('warning');
process.on('warning', (w) => {
  if (!String(w.message).startsWith('NodeVersionSupportWarning')) console.warn(`${w.name}: ${w.message}`);
});

const { S3_ENDPOINT, S3_BUCKET, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY } = process.env;
const Bucket = S3_BUCKET;
const s3 = new S3Client({
  endpoint: S3_ENDPOINT,
  region: process.env.S3_REGION ?? 'us-east-1',
  forcePathStyle: true,
  credentials: { accessKeyId: S3_ACCESS_KEY_ID, secretAccessKey: S3_SECRET_ACCESS_KEY },
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
});

const prefix = `ci-smoke-${Date.now()}-${randomBytes(4).toString('hex')}`;
const md5 = (buf) => createHash('md5').update(buf).digest('hex');
const check = (ok, what) => {
  if (!ok) throw new Error(`check failed: ${what}`);
  console.log(`  ok: ${what}`);
};
const created = [];

try {
  // 1. put / get
  const small = Buffer.from(`hello ${prefix}`);
  await s3.send(new PutObjectCommand({ Bucket, Key: `${prefix}/small.txt`, Body: small, ContentType: 'text/plain' }));
  created.push(`${prefix}/small.txt`);
  const got = await s3.send(new GetObjectCommand({ Bucket, Key: `${prefix}/small.txt` }));
  check(Buffer.from(await got.Body.transformToByteArray()).equals(small), 'PutObject + GetObject round trip');

  // 2. multipart, 2 x 5 MiB
  const partSize = 5 * 1024 * 1024;
  const parts = [randomBytes(partSize), randomBytes(partSize)];
  const key = `${prefix}/multipart.bin`;
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key: key }));
  const done = [];
  for (const [i, Body] of parts.entries()) {
    const { ETag } = await s3.send(new UploadPartCommand({ Bucket, Key: key, UploadId, PartNumber: i + 1, Body }));
    done.push({ PartNumber: i + 1, ETag });
  }
  const listed = await s3.send(new ListPartsCommand({ Bucket, Key: key, UploadId }));
  check(listed.Parts?.length === 2, 'ListParts shows 2 parts');
  const completed = await s3.send(new CompleteMultipartUploadCommand({ Bucket, Key: key, UploadId, MultipartUpload: { Parts: done } }));
  created.push(key);
  check(/-2"?$/.test(completed.ETag ?? ''), `multipart ETag has the -2 suffix (${completed.ETag})`);
  const whole = await s3.send(new GetObjectCommand({ Bucket, Key: key }));
  const wholeBytes = Buffer.from(await whole.Body.transformToByteArray());
  check(md5(wholeBytes) === md5(Buffer.concat(parts)), 'multipart object content = part 1 + part 2');

  // 3. presigned PUT, used by plain fetch
  const presignedKey = `${prefix}/presigned.txt`;
  const presignedBody = `presigned ${prefix}`;
  const putUrl = await getSignedUrl(s3, new PutObjectCommand({ Bucket, Key: presignedKey }), { expiresIn: 300 });
  const putRes = await fetch(putUrl, { method: 'PUT', body: presignedBody });
  check(putRes.ok, `presigned PUT via fetch (HTTP ${putRes.status})`);
  created.push(presignedKey);
  const getUrl = await getSignedUrl(s3, new GetObjectCommand({ Bucket, Key: presignedKey }), { expiresIn: 300 });
  const getRes = await fetch(getUrl);
  check(getRes.ok && (await getRes.text()) === presignedBody, 'presigned GET via fetch returns the body');

  // 4. presigned UploadPart (browser-direct multipart), used by plain fetch
  const mpKey = `${prefix}/presigned-multipart.bin`;
  const mp = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key: mpKey }));
  const partUrl = await getSignedUrl(s3, new UploadPartCommand({ Bucket, Key: mpKey, UploadId: mp.UploadId, PartNumber: 1 }), { expiresIn: 300 });
  const partRes = await fetch(partUrl, { method: 'PUT', body: parts[0] });
  const partEtag = partRes.headers.get('etag');
  check(partRes.ok && Boolean(partEtag), `presigned UploadPart via fetch (HTTP ${partRes.status}, ETag ${partEtag})`);
  await s3.send(new CompleteMultipartUploadCommand({ Bucket, Key: mpKey, UploadId: mp.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: partEtag }] } }));
  created.push(mpKey);
  check(true, 'multipart upload from a presigned part completed');

  // 5. an aborted multipart upload is gone
  const ab = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key: `${prefix}/aborted.bin` }));
  await s3.send(new AbortMultipartUploadCommand({ Bucket, Key: `${prefix}/aborted.bin`, UploadId: ab.UploadId }));
  const afterAbort = await s3.send(new ListPartsCommand({ Bucket, Key: `${prefix}/aborted.bin`, UploadId: ab.UploadId })).then(() => 'listed', (e) => e.name);
  check(afterAbort === 'NoSuchUpload', `AbortMultipartUpload (ListParts afterwards: ${afterAbort})`);

  // 6. CORS preflight (informational: the bucket rule may be unsupported)
  const pre = await fetch(`${S3_ENDPOINT}/${Bucket}/${presignedKey}`, {
    method: 'OPTIONS',
    headers: { Origin: 'http://localhost:5173', 'Access-Control-Request-Method': 'PUT', 'Access-Control-Request-Headers': 'content-type' },
  });
  console.log(`  info: CORS preflight HTTP ${pre.status}, allow-origin=${pre.headers.get('access-control-allow-origin')}, expose=${pre.headers.get('access-control-expose-headers')}`);
} catch (error) {
  console.error(`s3-smoke: ${error.name}: ${error.message}`);
  process.exitCode = 1;
} finally {
  for (const Key of created) await s3.send(new DeleteObjectCommand({ Bucket, Key })).catch(() => undefined);
}
