import { InternalTokenIssuer } from '@govault/lib';
import { join } from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { registerAndLogin } from '../../e2e/client.ts';
import { emptyBucket, withTusBenchStack } from '../lib/infra.ts';
import { cpuSeconds, rssMiB, sampleRss } from '../lib/measure.ts';
import { result, type BenchResult, type Scenario } from '../lib/report.ts';
import { bytesOf, tusUpload } from '../lib/tus-upload.ts';

const MiB = 1024 * 1024;
/** BENCH_TUS_SCALE shrinks every size (e.g. 0.1) for a quick look; the README numbers use 1. */
const SCALE = Number(process.env.BENCH_TUS_SCALE ?? 1);
const BIG = Math.round(1024 * SCALE) * MiB;
const SMALL = Math.round(50 * SCALE) * MiB;
const CONCURRENT = 20;
/** The part size GoVault's S3 store uses (8 MiB up to 80 GiB uploads); tusd and the SDK loop get the same. */
const PART = 8 * MiB;
const SDK_PARTS_IN_FLIGHT = 4;
/** Each contender runs this many times, in rotating order; the medians are reported. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

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

const mbps = (bytes: number, ms: number) => bytes / MiB / (ms / 1000);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

interface Contender {
  name: string;
  /** A GoVault path: the upload service's RSS is sampled while it runs. */
  govault: boolean;
  /** Also runs the concurrent uploads (the direct path only runs the single file). */
  concurrent: boolean;
  /** Processes whose CPU counts as this contender's work (the client's never does). */
  pids: () => number[];
  upload: (data: Buffer, i: number) => Promise<void>;
}

interface Sample {
  mibPerSecond: number;
  cpuSecondsPerGiB: number;
}

/** One timed run: throughput, and the CPU its server processes spent per GiB received. */
async function measure(contender: Contender, bytes: number, work: () => Promise<unknown>): Promise<Sample> {
  const pids = contender.pids();
  const cpuBefore = pids.map(cpuSeconds);
  const started = performance.now();
  await work();
  const ms = performance.now() - started;
  const cpu = pids.reduce((sum, pid, i) => sum + cpuSeconds(pid) - cpuBefore[i]!, 0);
  return { mibPerSecond: mbps(bytes, ms), cpuSecondsPerGiB: cpu / (bytes / (1024 * MiB)) };
}

const scenario: Scenario = {
  name: 'tus-throughput',
  description: `tus to S3: one ${BIG / MiB} MiB upload and ${CONCURRENT} concurrent ${SMALL / MiB} MiB uploads, GoVault through the gateway vs tusd v2 and the AWS SDK multipart loop (${PART / MiB} MiB parts) on the same versitygw; ${ROUNDS} rounds in rotating order, medians`,
  async run(log) {
    const results: BenchResult[] = [];
    await withTusBenchStack(PART, async ({ s3, cluster, tusd, client }) => {
      const user = await registerAndLogin(cluster.baseUrl);
      const govault = `${cluster.baseUrl}/api/uploads/tus`;
      const uploadPid = () => cluster.uploads[0]!.pid!;
      // The upload service straight, with the internal token the gateway would add: the
      // difference to the gateway line is the cost of the hop.
      const issuer = InternalTokenIssuer.fromKeyDir(join(cluster.dataDir, 'keys'), 'gateway');
      const direct = `${cluster.uploads[0]!.url}/api/uploads/tus`;
      // Internal tokens live a minute: each upload gets a fresh one.
      const directHeaders = () => ({ 'x-internal-token': issuer.issue('upload', { userId: user.id }), 'x-user-id': user.id });
      const viaGateway: Contender = { name: 'GoVault via gateway', govault: true, concurrent: true, pids: () => [cluster.gateway.pid!, uploadPid()], upload: (data) => tusUpload(govault, data, user.auth) };
      const straight: Contender = { name: 'GoVault upload service direct', govault: true, concurrent: false, pids: () => [uploadPid()], upload: (data) => tusUpload(direct, data, directHeaders()) };
      const tusdV2: Contender = { name: 'tusd v2', govault: false, concurrent: true, pids: () => [tusd.process.pid!], upload: (data) => tusUpload(tusd.endpoint, data, {}) };
      const sdk: Contender = { name: 'AWS SDK multipart loop', govault: false, concurrent: true, pids: () => [], upload: (data, i) => sdkUpload(client, s3.bucket, `sdk-${Date.now()}-${i}`, data) };
      const contenders = [viaGateway, straight, tusdV2, sdk];
      const big = bytesOf(BIG);
      const small = bytesOf(SMALL);
      // Warm-up, not timed: connections, JIT, the first part files.
      const warm = bytesOf(32 * MiB);
      for (const c of contenders) await c.upload(warm, 0);

      const samples = new Map(contenders.map((c) => [c, { big: [] as Sample[], many: [] as Sample[] }]));
      const rss = { big: 0, many: 0, start: rssMiB(uploadPid()) };
      for (let round = 0; round < ROUNDS; round++) {
        // Rotating the order spreads the machine's drift (page cache, disk writeback) over all.
        const order = contenders.map((_, i) => contenders[(i + round) % contenders.length]!);
        for (const c of order) {
          const sampler = c.govault ? sampleRss(uploadPid()) : undefined;
          samples.get(c)!.big.push(await measure(c, BIG, () => c.upload(big, 0)));
          if (sampler) rss.big = Math.max(rss.big, sampler.stop().peakMiB);
        }
        for (const c of order) {
          if (!c.concurrent) continue;
          const sampler = c.govault ? sampleRss(uploadPid()) : undefined;
          samples.get(c)!.many.push(await measure(c, CONCURRENT * SMALL, () => Promise.all(Array.from({ length: CONCURRENT }, (_, i) => c.upload(small, i)))));
          if (sampler) rss.many = Math.max(rss.many, sampler.stop().peakMiB);
        }
        log(`round ${round + 1}: ${contenders.map((c) => `${c.name} ${samples.get(c)!.big.at(-1)!.mibPerSecond.toFixed(0)}`).join(', ')} MiB/s (1 file)`);
        await emptyBucket(client, s3.bucket);
      }

      const name = scenario.name;
      const med = (c: Contender, kind: 'big' | 'many', field: keyof Sample) => median(samples.get(c)![kind].map((s) => s[field]));
      const tusdBig = med(tusdV2, 'big', 'mibPerSecond');
      const tusdMany = med(tusdV2, 'many', 'mibPerSecond');
      const tusdCpu = med(tusdV2, 'big', 'cpuSecondsPerGiB');
      const sdkNote = 'upper bound: no tus, no gateway';
      results.push(
        result(name, `1 x ${BIG / MiB} MiB, GoVault tus via gateway`, med(viaGateway, 'big', 'mibPerSecond'), 'MiB/s', { name: 'tusd v2', value: tusdBig }, 'goal ≥ 1x'),
        result(name, `1 x ${BIG / MiB} MiB, GoVault tus straight to the upload service`, med(straight, 'big', 'mibPerSecond'), 'MiB/s', { name: 'tusd v2', value: tusdBig }, 'no gateway hop'),
        result(name, `1 x ${BIG / MiB} MiB, AWS SDK multipart loop`, med(sdk, 'big', 'mibPerSecond'), 'MiB/s', undefined, sdkNote),
        result(name, `${CONCURRENT} x ${SMALL / MiB} MiB, GoVault tus via gateway`, med(viaGateway, 'many', 'mibPerSecond'), 'MiB/s', { name: 'tusd v2', value: tusdMany }, 'goal ≥ 1x'),
        result(name, `${CONCURRENT} x ${SMALL / MiB} MiB, AWS SDK multipart loop`, med(sdk, 'many', 'mibPerSecond'), 'MiB/s', undefined, sdkNote),
        result(name, 'server CPU per GiB, GoVault gateway + upload service', med(viaGateway, 'big', 'cpuSecondsPerGiB'), 's', { name: 'tusd v2', value: tusdCpu }, 'user + system, 1 file'),
        result(name, 'server CPU per GiB, upload service alone', med(straight, 'big', 'cpuSecondsPerGiB'), 's', { name: 'tusd v2', value: tusdCpu }, 'user + system, 1 file'),
        result(name, `upload service peak RSS, 1 x ${BIG / MiB} MiB`, rss.big, 'MiB', undefined, `at start ${rss.start.toFixed(0)} MiB`),
        result(name, `upload service peak RSS, ${CONCURRENT} x ${SMALL / MiB} MiB`, rss.many, 'MiB', undefined, `at start ${rss.start.toFixed(0)} MiB`),
      );
    });
    return results;
  },
};

export default scenario;
