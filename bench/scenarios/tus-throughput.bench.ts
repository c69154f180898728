import { InternalTokenIssuer } from '@govault/lib';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, UploadPartCommand, type S3Client } from '@aws-sdk/client-s3';
import * as tus from 'tus-js-client';
import { registerAndLogin } from '../../e2e/client.ts';
import { freePort, startCluster } from '../../e2e/cluster.ts';
import { ensureTusd, s3Client, s3Env, startS3, type S3Endpoint } from '../lib/infra.ts';
import { sampleRss } from '../lib/measure.ts';
import { result, type BenchResult, type Scenario } from '../lib/report.ts';

const MiB = 1024 * 1024;
/** BENCH_TUS_SCALE shrinks every size (e.g. 0.1) for a quick look; the README numbers use 1. */
const SCALE = Number(process.env.BENCH_TUS_SCALE ?? 1);
const BIG = Math.round(1024 * SCALE) * MiB;
const SMALL = Math.round(50 * SCALE) * MiB;
const CONCURRENT = 20;
/** The part size GoVault's S3 store uses (8 MiB up to 80 GiB uploads); tusd and the SDK loop get the same. */
const PART = 8 * MiB;
const SDK_PARTS_IN_FLIGHT = 4;

const pattern = randomBytes(16 * MiB);
const bytesOf = (size: number) => {
  const data = Buffer.allocUnsafe(size);
  for (let at = 0; at < size; at += pattern.length) pattern.copy(data, at, 0, Math.min(pattern.length, size - at));
  return data;
};

function tusUpload(endpoint: string, data: Buffer, headers: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const upload = new tus.Upload(data, {
      endpoint,
      headers,
      retryDelays: [],
      metadata: { filename: 'bench.bin', filetype: 'application/octet-stream' },
      onSuccess: () => resolve(),
      onError: reject,
    });
    upload.start();
  });
}

async function sdkUpload(client: S3Client, bucket: string, key: string, data: Buffer): Promise<void> {
  const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  const count = Math.ceil(data.length / PART);
  const parts: Array<{ PartNumber: number; ETag: string }> = [];
  let next = 1;
  await Promise.all(
    Array.from({ length: SDK_PARTS_IN_FLIGHT }, async () => {
      while (next <= count) {
        const n = next++;
        const body = data.subarray((n - 1) * PART, n * PART);
        const out = await client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: n, Body: body }));
        parts.push({ PartNumber: n, ETag: out.ETag! });
      }
    }),
  );
  parts.sort((a, b) => a.PartNumber - b.PartNumber);
  await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }));
}

async function startTusd(s3: S3Endpoint): Promise<{ endpoint: string; process: ChildProcess; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn(
    ensureTusd(),
    ['-host', '127.0.0.1', '-port', String(port), '-base-path', '/files/', '-s3-bucket', s3.bucket, '-s3-endpoint', s3.endpoint,
      '-s3-part-size', String(PART), '-s3-disable-content-hashes', '-s3-object-prefix', 'tusd/'],
    {
      env: { ...process.env, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: s3.region },
      stdio: 'ignore',
    },
  );
  const endpoint = `http://127.0.0.1:${port}/files/`;
  for (let i = 0; i < 100; i++) {
    if (await fetch(endpoint, { method: 'OPTIONS' }).then((r) => r.ok).catch(() => false)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    endpoint,
    process: child,
    stop: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

const mbps = (bytes: number, ms: number) => bytes / MiB / (ms / 1000);
async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

const scenario: Scenario = {
  name: 'tus-throughput',
  description: `tus to S3: one ${BIG / MiB} MiB upload and ${CONCURRENT} concurrent ${SMALL / MiB} MiB uploads through the gateway, vs tusd v2 and the AWS SDK multipart loop (${PART / MiB} MiB parts) on the same versitygw`,
  async run(log) {
    const s3 = await startS3();
    const cluster = await startCluster('embedded', { serviceEnv: { upload: s3Env(s3), files: s3Env(s3) } });
    const tusd = await startTusd(s3);
    const client = s3Client(s3);
    const results: BenchResult[] = [];
    try {
      const user = await registerAndLogin(cluster.baseUrl);
      const govault = `${cluster.baseUrl}/api/uploads/tus`;
      const pid = cluster.uploads[0]!.pid!;
      const big = bytesOf(BIG);
      const small = bytesOf(SMALL);
      const concurrently = (upload: (i: number) => Promise<void>) => Promise.all(Array.from({ length: CONCURRENT }, (_, i) => upload(i)));

      // The upload service straight, with the internal token the gateway would add: the
      // difference to the gateway line is the cost of the hop.
      const issuer = InternalTokenIssuer.fromKeyDir(join(cluster.dataDir, 'keys'), 'gateway');
      const direct = `${cluster.uploads[0]!.url}/api/uploads/tus`;
      const directHeaders = { 'x-internal-token': issuer.issue('upload', { userId: user.id }), 'x-user-id': user.id };
      // Warm-up, not timed: connections, JIT, the first part files.
      const warm = bytesOf(32 * MiB);
      await tusUpload(govault, warm, user.auth);
      await tusUpload(tusd.endpoint, warm, {});

      const rssBig = sampleRss(pid);
      const govaultBig = await timed(() => tusUpload(govault, big, user.auth));
      const peakBig = rssBig.stop();
      const tusdBig = await timed(() => tusUpload(tusd.endpoint, big, {}));
      const directBig = await timed(() => tusUpload(direct, big, directHeaders));
      const sdkBig = await timed(() => sdkUpload(client, s3.bucket, `sdk-big-${Date.now()}`, big));
      log(`1 file: govault ${mbps(BIG, govaultBig).toFixed(0)} MiB/s (upload service direct ${mbps(BIG, directBig).toFixed(0)}), tusd ${mbps(BIG, tusdBig).toFixed(0)}, sdk ${mbps(BIG, sdkBig).toFixed(0)}`);

      const rssMany = sampleRss(pid);
      const govaultMany = await timed(() => concurrently(() => tusUpload(govault, small, user.auth)));
      const peakMany = rssMany.stop();
      const tusdMany = await timed(() => concurrently(() => tusUpload(tusd.endpoint, small, {})));
      const sdkMany = await timed(() => concurrently((i) => sdkUpload(client, s3.bucket, `sdk-many-${Date.now()}-${i}`, small)));
      const total = CONCURRENT * SMALL;
      log(`${CONCURRENT} files: govault ${mbps(total, govaultMany).toFixed(0)} MiB/s, tusd ${mbps(total, tusdMany).toFixed(0)}, sdk ${mbps(total, sdkMany).toFixed(0)}`);

      const name = scenario.name;
      results.push(
        result(name, `1 x ${BIG / MiB} MiB, GoVault tus via gateway`, mbps(BIG, govaultBig), 'MiB/s', { name: 'tusd v2', value: mbps(BIG, tusdBig) }),
        result(name, `1 x ${BIG / MiB} MiB, GoVault tus straight to the upload service`, mbps(BIG, directBig), 'MiB/s', { name: 'tusd v2', value: mbps(BIG, tusdBig) }, 'no gateway hop'),
        result(name, `1 x ${BIG / MiB} MiB, AWS SDK multipart loop`, mbps(BIG, sdkBig), 'MiB/s', undefined, 'upper bound: no tus, no gateway'),
        result(name, `${CONCURRENT} x ${SMALL / MiB} MiB, GoVault tus via gateway`, mbps(total, govaultMany), 'MiB/s', { name: 'tusd v2', value: mbps(total, tusdMany) }),
        result(name, `${CONCURRENT} x ${SMALL / MiB} MiB, AWS SDK multipart loop`, mbps(total, sdkMany), 'MiB/s', undefined, 'upper bound: no tus, no gateway'),
        result(name, `upload service peak RSS, 1 x ${BIG / MiB} MiB`, peakBig.peakMiB, 'MiB', undefined, `at start ${peakBig.startMiB.toFixed(0)} MiB`),
        result(name, `upload service peak RSS, ${CONCURRENT} x ${SMALL / MiB} MiB`, peakMany.peakMiB, 'MiB', undefined, `at start ${peakMany.startMiB.toFixed(0)} MiB`),
      );
    } finally {
      client.destroy();
      await tusd.stop();
      await cluster.stop();
      await s3.stop();
    }
    return results;
  },
};

export default scenario;
