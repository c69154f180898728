import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { GetBucketCorsCommand, HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { freePorts } from '@govault/lib';
import { ensureDir, outcomeOf, requireRealServices, runImage, tempDir, versitygwBinary } from './image-process.ts';

/** Its own versitygw on a free loopback port with fresh folders, as .ci/run starts one. */
const ACCESS_KEY = 'image-test';
const SECRET_KEY = randomBytes(12).toString('hex');
const binary = versitygwBinary();
let versitygw: ChildProcess | undefined;
let endpoint = '';
let folders = '';

test.before(async () => {
  if (!binary) {
    if (requireRealServices) throw new Error('versitygw not found on PATH or in $(go env GOPATH)/bin, and GOVAULT_REQUIRE_REAL_SERVICES=1');
    return;
  }
  const [port] = await freePorts(1);
  folders = tempDir('versitygw');
  endpoint = `http://127.0.0.1:${port}`;
  versitygw = spawn(binary, ['--port', `127.0.0.1:${port}`, '--quiet', 'posix', '--sidecar', ensureDir(join(folders, 'meta')), ensureDir(join(folders, 'data'))], {
    env: { ROOT_ACCESS_KEY: ACCESS_KEY, ROOT_SECRET_KEY: SECRET_KEY },
    stdio: 'ignore',
  });
});

test.after.always(() => {
  versitygw?.kill('SIGTERM');
  if (folders) rmSync(folders, { recursive: true, force: true });
});

const s3Env = (bucket: string, extra: NodeJS.ProcessEnv = {}) => ({
  S3_ENDPOINT: endpoint,
  S3_BUCKET: bucket,
  S3_REGION: 'us-east-1',
  S3_ACCESS_KEY_ID: ACCESS_KEY,
  S3_SECRET_ACCESS_KEY: SECRET_KEY,
  S3_FORCE_PATH_STYLE: 'true',
  ...extra,
});

const client = () => new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY } });

const withS3 = binary ? test.serial : test.skip;
if (!binary) console.warn('image create-bucket: versitygw not installed; skipped (GOVAULT_REQUIRE_REAL_SERVICES=1 makes this a failure)');

withS3('create-bucket waits for the store, creates the bucket with its CORS rule, and a second run is a no-op', async (t) => {
  // Started together with versitygw, as compose starts the job next to a store still booting.
  const bucket = `govault-${randomBytes(4).toString('hex')}`;
  const first = await runImage(['create-bucket'], s3Env(bucket, { CORS_ALLOWED_ORIGINS: 'https://vault.example.com, http://localhost:8080' }));
  t.is(first.status, 0, first.stderr);
  t.like(outcomeOf(first), { bucket, created: true });

  const s3 = client();
  t.teardown(() => s3.destroy());
  await t.notThrowsAsync(s3.send(new HeadBucketCommand({ Bucket: bucket })));
  const cors = await s3.send(new GetBucketCorsCommand({ Bucket: bucket }));
  t.is(cors.CORSRules?.length, 1);
  const rule = cors.CORSRules![0]!;
  t.deepEqual(rule.AllowedOrigins, ['https://vault.example.com', 'http://localhost:8080']);
  t.deepEqual([...(rule.AllowedMethods ?? [])].sort(), ['GET', 'HEAD', 'PUT']);
  t.deepEqual(rule.AllowedHeaders, ['*']);
  t.deepEqual(rule.ExposeHeaders, ['ETag']);

  const second = await runImage(['create-bucket'], s3Env(bucket));
  t.is(second.status, 0, second.stderr);
  t.like(outcomeOf(second), { bucket, created: false });
  t.deepEqual((await s3.send(new GetBucketCorsCommand({ Bucket: bucket }))).CORSRules?.[0]?.AllowedOrigins, ['*'], 'the rule follows CORS_ALLOWED_ORIGINS (default *)');
});

withS3('create-bucket with a wrong secret key fails at once and says which settings to check', async (t) => {
  const started = Date.now();
  const run = await runImage(['create-bucket'], s3Env(`govault-${randomBytes(4).toString('hex')}`, { S3_SECRET_ACCESS_KEY: 'not-the-secret' }));
  t.is(run.status, 1);
  t.regex(run.stderr, /SignatureDoesNotMatch.*check S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY/);
  t.true(Date.now() - started < 15_000, 'a refusal is not waited on like a store that is starting');
});

test('create-bucket against a store that never answers gives up after CREATE_BUCKET_TIMEOUT_SECONDS', async (t) => {
  const [closed] = await freePorts(1);
  const run = await runImage(['create-bucket'], { ...s3Env('never'), S3_ENDPOINT: `http://127.0.0.1:${closed}`, CREATE_BUCKET_TIMEOUT_SECONDS: '3' });
  t.is(run.status, 1);
  t.regex(run.stderr, /not answering yet/);
  t.regex(run.stderr, /S3 did not answer within 3 s/);
});

test('create-bucket lists every missing variable and exits 2', async (t) => {
  const run = await runImage(['create-bucket'], {});
  t.is(run.status, 2);
  for (const name of ['S3_ENDPOINT', 'S3_BUCKET', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY']) t.regex(run.stderr, new RegExp(name));
});
