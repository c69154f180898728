import { InternalTokenIssuer } from '@govault/lib';
import { Agent, request } from 'node:http';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { registerAndLogin } from '../../e2e/client.ts';
import { emptyBucket, startBareNode, withTusBenchStack } from '../lib/infra.ts';
import { cpuSeconds, median, rssMiB, sampleRss, spread } from '../lib/measure.ts';
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
/** Each contender runs this many times, in rotating order; the medians are reported, with the spread. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

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
        // As a stream, as GoVault's store and tusd (-s3-disable-content-hashes) send parts: the
        // SDK signs a stream as UNSIGNED-PAYLOAD, where it would hash a buffer for SigV4.
        const out = await client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: n, Body: Readable.from([body]), ContentLength: body.length }));
        parts.push({ PartNumber: n, ETag: out.ETag! });
      }
    }),
  );
  parts.sort((a, b) => a.PartNumber - b.PartNumber);
  await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }));
}

/** One plain HTTP PUT of `data` (with its length), as a floor: no tus, no parts, no S3. */
function putBody(url: string, data: Buffer, agent: Agent): Promise<void> {
  return new Promise((resolve, reject) => {
    const put = request(url, { method: 'PUT', agent, headers: { 'content-type': 'application/octet-stream', 'content-length': String(data.length) } }, (answer) => {
      answer.resume();
      answer.once('end', () => (answer.statusCode === 204 ? resolve() : reject(new Error(`PUT answered ${answer.statusCode}`))));
    });
    put.once('error', reject);
    put.end(data);
  });
}


interface Contender {
  name: string;
  /** A GoVault path: the upload service's RSS is sampled while it runs. */
  govault: boolean;
  /** Also runs the concurrent uploads (the direct path only runs the single file). */
  concurrent: boolean;
  /** The server processes by role (gateway, upload, tusd, proxy, receiver): their CPU is this contender's work. */
  processes: () => Record<string, number>;
  upload: (data: Buffer, i: number) => Promise<void>;
}

interface Sample {
  mibPerSecond: number;
  /** CPU per GiB of each server process, by role. */
  cpuPerGiB: Record<string, number>;
  /** The server processes together. */
  serverCpuPerGiB: number;
  /** versitygw's, when this run started it. */
  s3CpuPerGiB: number;
  /** This process's: the clients (tus-js-client, the AWS SDK, the PUT). */
  clientCpuPerGiB: number;
}

/** One timed run: throughput, and the CPU each process spent per GiB received. */
async function measure(contender: Contender, s3Pid: number | undefined, bytes: number, work: () => Promise<unknown>): Promise<Sample> {
  const processes = Object.entries(contender.processes());
  const gib = bytes / (1024 * MiB);
  const before = processes.map(([, pid]) => cpuSeconds(pid));
  const s3Before = s3Pid ? cpuSeconds(s3Pid) : 0;
  const client = process.cpuUsage();
  const started = performance.now();
  await work();
  const seconds = (performance.now() - started) / 1000;
  const clientUsed = process.cpuUsage(client);
  const cpuPerGiB = Object.fromEntries(processes.map(([role, pid], i) => [role, (cpuSeconds(pid) - before[i]!) / gib]));
  return {
    mibPerSecond: bytes / MiB / seconds,
    cpuPerGiB,
    serverCpuPerGiB: Object.values(cpuPerGiB).reduce((sum, v) => sum + v, 0),
    s3CpuPerGiB: s3Pid ? (cpuSeconds(s3Pid) - s3Before) / gib : Number.NaN,
    clientCpuPerGiB: (clientUsed.user + clientUsed.system) / 1e6 / gib,
  };
}

/**
 * tus to S3 against tusd and the AWS SDK on the same versitygw, and against the floors of
 * Node itself measured in the same run (issue 18): a bare receiver that drops the body, and
 * a bare proxy in front of it. Each process's CPU per GiB is reported, versitygw's and the
 * client's too, so a reader sees where the two cores went.
 */
const scenario: Scenario = {
  name: 'tus-throughput',
  description: `tus to S3: one ${BIG / MiB} MiB upload and ${CONCURRENT} concurrent ${SMALL / MiB} MiB uploads, GoVault through the gateway vs tusd v2, the AWS SDK multipart loop (${PART / MiB} MiB parts) on the same versitygw, and a bare Node receiver and proxy; ${ROUNDS} rounds in rotating order, medians`,
  async run(log) {
    const results: BenchResult[] = [];
    await withTusBenchStack(PART, async ({ s3, cluster, tusd, client }) => {
      const receiver = await startBareNode('bare-receiver.ts');
      const proxy = await startBareNode('bare-proxy.ts', { TARGET: receiver.url });
      const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENT });
      try {
        const user = await registerAndLogin(cluster.baseUrl);
        const govault = `${cluster.baseUrl}/api/uploads/tus`;
        const uploadPid = () => cluster.uploads[0]!.pid!;
        // The upload service straight, with the internal token the gateway would add: the
        // difference to the gateway line is the cost of the hop.
        const issuer = InternalTokenIssuer.fromKeyDir(join(cluster.dataDir, 'keys'), 'gateway');
        const direct = `${cluster.uploads[0]!.url}/api/uploads/tus`;
        // Internal tokens live a minute: each upload gets a fresh one.
        const directHeaders = () => ({ 'x-internal-token': issuer.issue('upload', { userId: user.id }), 'x-user-id': user.id });
        const viaGateway: Contender = { name: 'GoVault via gateway', govault: true, concurrent: true, processes: () => ({ gateway: cluster.gateway.pid!, upload: uploadPid() }), upload: (data) => tusUpload(govault, data, user.auth) };
        const straight: Contender = { name: 'GoVault upload service direct', govault: true, concurrent: false, processes: () => ({ upload: uploadPid() }), upload: (data) => tusUpload(direct, data, directHeaders()) };
        const tusdV2: Contender = { name: 'tusd v2', govault: false, concurrent: true, processes: () => ({ tusd: tusd.process.pid! }), upload: (data) => tusUpload(tusd.endpoint, data, {}) };
        const sdk: Contender = { name: 'AWS SDK multipart loop', govault: false, concurrent: true, processes: () => ({}), upload: (data, i) => sdkUpload(client, s3.bucket, `sdk-${Date.now()}-${i}`, data) };
        const bareReceiver: Contender = { name: 'bare Node receiver', govault: false, concurrent: true, processes: () => ({ receiver: receiver.process.pid! }), upload: (data) => putBody(receiver.url, data, agent) };
        const bareProxy: Contender = { name: 'bare Node proxy + receiver', govault: false, concurrent: true, processes: () => ({ proxy: proxy.process.pid!, receiver: receiver.process.pid! }), upload: (data) => putBody(proxy.url, data, agent) };
        const contenders = [viaGateway, straight, tusdV2, sdk, bareReceiver, bareProxy];
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
            samples.get(c)!.big.push(await measure(c, s3.pid, BIG, () => c.upload(big, 0)));
            if (sampler) rss.big = Math.max(rss.big, sampler.stop().peakMiB);
          }
          for (const c of order) {
            if (!c.concurrent) continue;
            const sampler = c.govault ? sampleRss(uploadPid()) : undefined;
            samples.get(c)!.many.push(await measure(c, s3.pid, CONCURRENT * SMALL, () => Promise.all(Array.from({ length: CONCURRENT }, (_, i) => c.upload(small, i)))));
            if (sampler) rss.many = Math.max(rss.many, sampler.stop().peakMiB);
          }
          log(`round ${round + 1}: ${contenders.map((c) => `${c.name} ${samples.get(c)!.big.at(-1)!.mibPerSecond.toFixed(0)}`).join(', ')} MiB/s (1 file)`);
          await emptyBucket(client, s3.bucket);
        }

        const name = scenario.name;
        const of = (c: Contender, kind: 'big' | 'many', pick: (s: Sample) => number) => samples.get(c)![kind].map(pick);
        const med = (c: Contender, kind: 'big' | 'many', pick: (s: Sample) => number) => median(of(c, kind, pick));
        const speed = (s: Sample) => s.mibPerSecond;
        const server = (s: Sample) => s.serverCpuPerGiB;
        const role = (r: string) => (s: Sample) => s.cpuPerGiB[r]!;
        const line = (metric: string, c: Contender, kind: 'big' | 'many', pick: (s: Sample) => number, unit: string, baseline?: { name: string; value: number }, note?: string) =>
          result(name, metric, med(c, kind, pick), unit, baseline, [note, spread(of(c, kind, pick))].filter(Boolean).join('; '));
        const tusdBig = { name: 'tusd v2', value: med(tusdV2, 'big', speed) };
        const tusdMany = { name: 'tusd v2', value: med(tusdV2, 'many', speed) };
        const sdkClientCpu = med(sdk, 'big', (s) => s.clientCpuPerGiB);
        const big1 = `1 x ${BIG / MiB} MiB`;
        const many = `${CONCURRENT} x ${SMALL / MiB} MiB`;
        results.push(
          line(`${big1}, GoVault tus via gateway`, viaGateway, 'big', speed, 'MiB/s', tusdBig, 'goal ≥ 0.9x'),
          line(`${big1}, GoVault tus straight to the upload service`, straight, 'big', speed, 'MiB/s', tusdBig, 'no gateway hop'),
          line(`${big1}, AWS SDK multipart loop`, sdk, 'big', speed, 'MiB/s', undefined, 'upper bound: no tus, no gateway'),
          line(`${big1}, bare Node receiver (PUT, dropped)`, bareReceiver, 'big', speed, 'MiB/s', undefined, 'no S3 at all'),
          line(`${big1}, bare Node proxy + receiver`, bareProxy, 'big', speed, 'MiB/s', undefined, 'no S3 at all'),
          line(`${many}, GoVault tus via gateway`, viaGateway, 'many', speed, 'MiB/s', tusdMany, 'goal ≥ 0.9x'),
          line(`${many}, AWS SDK multipart loop`, sdk, 'many', speed, 'MiB/s', undefined, 'upper bound: no tus, no gateway'),
          line('server CPU per GiB, GoVault gateway + upload service', viaGateway, 'big', server, 's', { name: 'tusd v2', value: med(tusdV2, 'big', server) }, 'goal ≤ 2x'),
          line('CPU per GiB, GoVault gateway alone', viaGateway, 'big', role('gateway'), 's', { name: 'bare Node proxy', value: med(bareProxy, 'big', role('proxy')) }, 'goal ≤ 1.0x'),
          line('CPU per GiB, GoVault upload service alone', straight, 'big', role('upload'), 's', { name: 'bare Node receiver', value: med(bareReceiver, 'big', role('receiver')) }, `goal ≤ 1.2x + the S3 client's own ${sdkClientCpu.toFixed(2)} s`),
          line('CPU per GiB, tusd', tusdV2, 'big', role('tusd'), 's'),
          // Many uploads at once cost more per GiB than one (more parts held on disk, more streams in flight).
          line(`server CPU per GiB, ${many}, GoVault gateway + upload service`, viaGateway, 'many', server, 's', { name: 'tusd v2', value: med(tusdV2, 'many', server) }),
          line(`CPU per GiB, ${many}, GoVault upload service`, viaGateway, 'many', role('upload'), 's'),
          line(`CPU per GiB, ${many}, tusd`, tusdV2, 'many', role('tusd'), 's'),
          line('CPU per GiB, the AWS SDK loop as a client (the S3 client\'s own cost)', sdk, 'big', (s) => s.clientCpuPerGiB, 's'),
        );
        for (const c of contenders) {
          if (!Number.isNaN(med(c, 'big', (s) => s.s3CpuPerGiB)) && c !== bareReceiver && c !== bareProxy) results.push(line(`versitygw CPU per GiB, ${c.name}`, c, 'big', (s) => s.s3CpuPerGiB, 's'));
          results.push(line(`client CPU per GiB, ${c.name}`, c, 'big', (s) => s.clientCpuPerGiB, 's', undefined, 'this process'));
        }
        results.push(
          result(name, `upload service peak RSS, ${big1}`, rss.big, 'MiB', undefined, `at start ${rss.start.toFixed(0)} MiB`),
          result(name, `upload service peak RSS, ${many}`, rss.many, 'MiB', undefined, `at start ${rss.start.toFixed(0)} MiB; goal ≤ 300 MiB`),
        );
      } finally {
        agent.destroy();
        await proxy.stop();
        await receiver.stop();
      }
    });
    return results;
  },
};

export default scenario;
