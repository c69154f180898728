import test from 'ava';
import { IMAGE_COMMANDS } from '../src/image/main.ts';
import { createBucketEnvSchema } from '../src/image/create-bucket.ts';
import { keysEnvSchema } from '../src/image/keys.ts';
import { smokeEnvSchema } from '../src/image/smoke.ts';

test('IMAGE_COMMANDS names every word of the contract, with each one-shot schema for deploy checks', (t) => {
  t.deepEqual(Object.keys(IMAGE_COMMANDS).sort(), ['auth', 'create-bucket', 'files', 'gateway', 'healthcheck', 'keys', 'smoke', 'upload']);
  t.is(IMAGE_COMMANDS.keys!.schema, keysEnvSchema);
  t.is(IMAGE_COMMANDS['create-bucket']!.schema, createBucketEnvSchema);
  t.is(IMAGE_COMMANDS.smoke!.schema, smokeEnvSchema);
  for (const service of ['gateway', 'auth', 'upload', 'files']) t.is(IMAGE_COMMANDS[service]!.schema, undefined, `${service} validates its own env in its main.ts`);
  // Defaults, as compose and Helm may leave these unset.
  t.like(keysEnvSchema.parse({}), { KEYS_DIR: '/keys' });
  t.like(smokeEnvSchema.parse({ SMOKE_URL: 'http://gateway:8080/' }), { SMOKE_URL: 'http://gateway:8080', SMOKE_BYTES: 5 * 1024 * 1024, SMOKE_TIMEOUT_SECONDS: 120 });
  const bucket = createBucketEnvSchema.parse({ S3_ENDPOINT: 'http://s3:7070', S3_BUCKET: 'govault', S3_ACCESS_KEY_ID: 'a', S3_SECRET_ACCESS_KEY: 'b' });
  t.like(bucket, { S3_REGION: 'us-east-1', S3_FORCE_PATH_STYLE: true, CREATE_BUCKET_TIMEOUT_SECONDS: 60 });
  t.deepEqual(bucket.CORS_ALLOWED_ORIGINS, ['*']);
});
