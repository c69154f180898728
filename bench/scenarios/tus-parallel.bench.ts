import { registerAndLogin } from '../../e2e/client.ts';
import { emptyBucket, withTusBenchStack } from '../lib/infra.ts';
import { cpuSeconds, median, spread } from '../lib/measure.ts';
import { result, type BenchResult, type Scenario } from '../lib/report.ts';
import { bytesOf, tusUpload } from '../lib/tus-upload.ts';

const MiB = 1024 * 1024;
/** BENCH_TUS_SCALE shrinks the file (e.g. 0.1) for a quick look; the README numbers use 1. */
const SIZE = Math.round(1024 * Number(process.env.BENCH_TUS_SCALE ?? 1)) * MiB;
const PARALLEL = 4;
/** GoVault's S3 part size up to 80 GiB uploads; tusd gets the same. */
const PART = 8 * MiB;
/** Each contender runs this many times, in rotating order; medians are reported, with the spread. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

interface Contender {
  name: string;
  /** The server processes whose CPU counts as this contender's work. */
  pids: () => number[];
  upload: (data: Buffer) => Promise<void>;
}

interface Sample {
  mibPerSecond: number;
  serverCpuPerGiB: number;
  s3CpuPerGiB: number;
  clientCpuPerGiB: number;
}


/** One timed upload: throughput, and the CPU each side spent per GiB (server, versitygw, this client process). */
async function measure(contender: Contender, s3Pid: number | undefined, data: Buffer): Promise<Sample> {
  const pids = contender.pids();
  const gib = data.length / (1024 * MiB);
  const server = pids.map(cpuSeconds);
  const s3 = s3Pid ? cpuSeconds(s3Pid) : 0;
  const client = process.cpuUsage();
  const started = performance.now();
  await contender.upload(data);
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(client);
  return {
    mibPerSecond: data.length / MiB / seconds,
    serverCpuPerGiB: pids.reduce((sum, pid, i) => sum + cpuSeconds(pid) - server[i]!, 0) / gib,
    s3CpuPerGiB: s3Pid ? (cpuSeconds(s3Pid) - s3) / gib : Number.NaN,
    clientCpuPerGiB: (used.user + used.system) / 1e6 / gib,
  };
}

/**
 * tus-js-client's `parallelUploads` (tus concatenation, issue 17): one file as four partial
 * uploads at once, then a final upload that joins them (UploadPartCopy on S3, for GoVault and
 * tusd alike), beside the same file sent as one upload, on GoVault and on tusd, against the
 * same versitygw in one run.
 */
const scenario: Scenario = {
  name: 'tus-parallel',
  description: `tus concatenation: one ${SIZE / MiB} MiB upload with parallelUploads ${PARALLEL} and sequential, GoVault through the gateway vs tusd v2 (${PART / MiB} MiB parts) on the same versitygw; ${ROUNDS} rounds in rotating order, medians`,
  async run(log) {
    const results: BenchResult[] = [];
    await withTusBenchStack(PART, async ({ s3, cluster, tusd, client }) => {
      const user = await registerAndLogin(cluster.baseUrl);
      const govault = `${cluster.baseUrl}/api/uploads/tus`;
      const govaultPids = () => [cluster.gateway.pid!, cluster.uploads[0]!.pid!];
      const contenders: Contender[] = [
        { name: `GoVault parallelUploads ${PARALLEL}`, pids: govaultPids, upload: (data) => tusUpload(govault, data, user.auth, PARALLEL) },
        { name: 'GoVault sequential', pids: govaultPids, upload: (data) => tusUpload(govault, data, user.auth) },
        { name: `tusd parallelUploads ${PARALLEL}`, pids: () => [tusd.process.pid!], upload: (data) => tusUpload(tusd.endpoint, data, {}, PARALLEL) },
        { name: 'tusd sequential', pids: () => [tusd.process.pid!], upload: (data) => tusUpload(tusd.endpoint, data, {}) },
      ];
      const data = bytesOf(SIZE);
      // Warm-up, not timed: connections, JIT, the first part files, each path once.
      const warm = bytesOf(32 * MiB);
      for (const c of contenders) await c.upload(warm);
      await emptyBucket(client, s3.bucket);

      const samples = new Map(contenders.map((c) => [c, [] as Sample[]]));
      for (let round = 0; round < ROUNDS; round++) {
        const order = contenders.map((_, i) => contenders[(i + round) % contenders.length]!);
        for (const c of order) {
          samples.get(c)!.push(await measure(c, s3.pid, data));
          // The partials and the final hold the file twice: keep the disk as it was for the next contender.
          await emptyBucket(client, s3.bucket);
        }
        log(`round ${round + 1}: ${contenders.map((c) => `${c.name} ${samples.get(c)!.at(-1)!.mibPerSecond.toFixed(0)}`).join(', ')} MiB/s`);
      }

      const of = (c: Contender, field: keyof Sample) => samples.get(c)!.map((s) => s[field]);
      const med = (c: Contender, field: keyof Sample) => median(of(c, field));
      const [govaultParallel, govaultSequential, tusdParallel, tusdSequential] = contenders as [Contender, Contender, Contender, Contender];
      const name = scenario.name;
      const file = `1 x ${SIZE / MiB} MiB`;
      results.push(
        result(name, `${file}, GoVault parallelUploads ${PARALLEL} via gateway`, med(govaultParallel, 'mibPerSecond'), 'MiB/s', { name: tusdParallel.name, value: med(tusdParallel, 'mibPerSecond') }, spread(of(govaultParallel, 'mibPerSecond'), 0)),
        result(name, `${file}, GoVault parallelUploads ${PARALLEL} vs sequential`, med(govaultParallel, 'mibPerSecond'), 'MiB/s', { name: govaultSequential.name, value: med(govaultSequential, 'mibPerSecond') }, 'what parallel uploads gain on this machine'),
        result(name, `${file}, GoVault sequential via gateway`, med(govaultSequential, 'mibPerSecond'), 'MiB/s', { name: tusdSequential.name, value: med(tusdSequential, 'mibPerSecond') }, spread(of(govaultSequential, 'mibPerSecond'), 0)),
        result(name, `${file}, tusd parallelUploads ${PARALLEL} vs sequential`, med(tusdParallel, 'mibPerSecond'), 'MiB/s', { name: tusdSequential.name, value: med(tusdSequential, 'mibPerSecond') }, spread(of(tusdParallel, 'mibPerSecond'), 0)),
      );
      for (const c of contenders) {
        results.push(
          result(name, `server CPU per GiB, ${c.name}`, med(c, 'serverCpuPerGiB'), 's', undefined, c.name.startsWith('GoVault') ? 'gateway + upload service' : 'tusd'),
          result(name, `versitygw CPU per GiB, ${c.name}`, med(c, 's3CpuPerGiB'), 's', undefined, 'the S3 server, on the same 2 cores'),
          result(name, `client CPU per GiB, ${c.name}`, med(c, 'clientCpuPerGiB'), 's', undefined, 'tus-js-client in this process'),
        );
      }
    });
    return results;
  },
};

export default scenario;
