import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import test from 'ava';
import { Registry } from 'prom-client';
import { createS3Client, createS3Metrics } from '../src/s3.ts';
import type { S3Settings } from '../src/config.ts';

/**
 * The S3 request timer on a real SDK client, against a local HTTP server that answers as
 * S3 would (200 for one key, 404 for any other): one observation per request, labelled
 * with the bare command name and its outcome, and none for presigning.
 */
let server: Server;
let settings: S3Settings;
test.before(async () => {
  server = createServer((req, res) => {
    req.resume();
    res.statusCode = req.url?.includes('/present') ? 200 : 404;
    res.setHeader('content-length', '0');
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  settings = { endpoint, publicEndpoint: endpoint, region: 'us-east-1', bucket: 'b', forcePathStyle: true, accessKeyId: 'k', secretAccessKey: 's' };
});
test.after.always(() => server.close());

async function counts(registry: Registry): Promise<Array<{ operation: string; outcome: string; count: number }>> {
  const text = await registry.metrics();
  return [...text.matchAll(/^govault_s3_request_duration_seconds_count\{operation="(\w+)",outcome="(\w+)"\} (\d+)$/gm)].map(([, operation, outcome, count]) => ({
    operation: operation!,
    outcome: outcome!,
    count: Number(count),
  }));
}

test('each S3 request is timed once with its operation and outcome; a presigned URL is not', async (t) => {
  const registry = new Registry();
  const client = createS3Client(settings, { metrics: createS3Metrics(registry) });
  t.teardown(() => client.destroy());
  await client.send(new HeadObjectCommand({ Bucket: 'b', Key: 'present' }));
  await client.send(new PutObjectCommand({ Bucket: 'b', Key: 'present', Body: 'x' }));
  await t.throwsAsync(client.send(new HeadObjectCommand({ Bucket: 'b', Key: 'missing' })));
  await getSignedUrl(client, new GetObjectCommand({ Bucket: 'b', Key: 'present' }), { expiresIn: 60 });
  t.deepEqual(
    (await counts(registry)).sort((a, b) => `${a.operation}${a.outcome}`.localeCompare(`${b.operation}${b.outcome}`)),
    [
      { operation: 'HeadObject', outcome: 'error', count: 1 },
      { operation: 'HeadObject', outcome: 'ok', count: 1 },
      { operation: 'PutObject', outcome: 'ok', count: 1 },
    ],
  );
});

test('a client made without metrics times nothing', async (t) => {
  const registry = new Registry();
  createS3Metrics(registry);
  const client = createS3Client(settings);
  t.teardown(() => client.destroy());
  await client.send(new HeadObjectCommand({ Bucket: 'b', Key: 'present' }));
  t.deepEqual(await counts(registry), []);
});
