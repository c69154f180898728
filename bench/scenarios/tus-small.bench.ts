import { InternalTokenIssuer } from '@govault/lib';
import { join } from 'node:path';
import { registerAndLogin } from '../../e2e/client.ts';
import { Scrape, delta } from '../../e2e/prometheus.ts';
import { emptyBucket, withTusBenchStack } from '../lib/infra.ts';
import { cpuSeconds, median, spread } from '../lib/measure.ts';
import { result, type BenchResult, type Scenario } from '../lib/report.ts';
import { bytesOf, tusUpload } from '../lib/tus-upload.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
const SIZE = 64 * KiB;
const UPLOADS = Number(process.env.BENCH_SMALL_UPLOADS ?? 200);
const IN_FLIGHT = 10;
const PART = 8 * MiB;
/** Each contender runs this many times, in rotating order; medians are reported, with the spread. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

interface Contender {
  name: string;
  /** The server processes by role: their CPU is this contender's work. */
  processes: () => Record<string, number>;
  upload: () => Promise<void>;
  /** The upload service's /metrics, where it counts its S3 requests (GoVault only). */
  metricsUrl?: string;
}

interface Sample {
  msPerUpload: number;
  /** CPU milliseconds per upload of each server process, by role. */
  cpuMs: Record<string, number>;
  /** S3 requests per upload the upload service sent (govault_s3_request_duration_seconds_count). */
  s3Requests?: number;
}

const S3_REQUESTS = 'govault_s3_request_duration_seconds_count';


/** `UPLOADS` uploads, `IN_FLIGHT` at a time: wall time and each server process's CPU, per upload. */
async function measure(contender: Contender): Promise<Sample> {
  const processes = Object.entries(contender.processes());
  const scrapedBefore = contender.metricsUrl ? await Scrape.of(contender.metricsUrl) : undefined;
  const before = processes.map(([, pid]) => cpuSeconds(pid));
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next++ < UPLOADS) await contender.upload();
    }),
  );
  const elapsed = performance.now() - started;
  const cpuMs = Object.fromEntries(processes.map(([role, pid], i) => [role, ((cpuSeconds(pid) - before[i]!) * 1000) / UPLOADS]));
  const s3Requests = scrapedBefore ? delta(scrapedBefore, await Scrape.of(contender.metricsUrl!), S3_REQUESTS) / UPLOADS : undefined;
  return { msPerUpload: elapsed / UPLOADS, cpuMs, s3Requests };
}

/**
 * What one upload costs whatever its size: many 64 KiB tus uploads (one POST and one PATCH
 * each, as tus-js-client sends them), GoVault through the gateway and straight to the upload
 * service, against tusd v2 on the same versitygw. Where the bytes are few, this is the
 * bookkeeping: S3 requests per upload (the .info object, ListParts, the checks that keep a
 * crash from losing an object), the upload database, registration with the files service.
 */
const scenario: Scenario = {
  name: 'tus-small',
  description: `${UPLOADS} tus uploads of ${SIZE / KiB} KiB, ${IN_FLIGHT} at a time: CPU per upload, GoVault through the gateway and straight to the upload service vs tusd v2 on the same versitygw; ${ROUNDS} rounds in rotating order, medians`,
  async run(log) {
    const results: BenchResult[] = [];
    await withTusBenchStack(PART, async ({ cluster, tusd, client, s3 }) => {
      const user = await registerAndLogin(cluster.baseUrl);
      const upload = cluster.uploads[0]!;
      const issuer = InternalTokenIssuer.fromKeyDir(join(cluster.dataDir, 'keys'), 'gateway');
      // Internal tokens live a minute: each upload gets a fresh one.
      const directHeaders = () => ({ 'x-internal-token': issuer.issue('upload', { userId: user.id }), 'x-user-id': user.id });
      const data = bytesOf(SIZE);
      const viaGateway: Contender = { name: 'GoVault via gateway', processes: () => ({ gateway: cluster.gateway.pid!, upload: upload.pid!, files: cluster.files.pid! }), upload: () => tusUpload(`${cluster.baseUrl}/api/uploads/tus`, data, user.auth) };
      const straight: Contender = {
        name: 'GoVault upload service direct',
        processes: () => ({ upload: upload.pid!, files: cluster.files.pid! }),
        upload: () => tusUpload(`${upload.url}/api/uploads/tus`, data, directHeaders()),
        metricsUrl: `${upload.url}/metrics`,
      };
      const tusdV2: Contender = { name: 'tusd v2', processes: () => ({ tusd: tusd.process.pid! }), upload: () => tusUpload(tusd.endpoint, data, {}) };
      const contenders = [viaGateway, straight, tusdV2];
      // Warm-up, not timed: connections, JIT.
      for (const c of contenders) for (let i = 0; i < 20; i++) await c.upload();

      const samples = new Map(contenders.map((c) => [c, [] as Sample[]]));
      for (let round = 0; round < ROUNDS; round++) {
        const order = contenders.map((_, i) => contenders[(i + round) % contenders.length]!);
        for (const c of order) samples.get(c)!.push(await measure(c));
        log(`round ${round + 1}: ${contenders.map((c) => `${c.name} ${samples.get(c)!.at(-1)!.msPerUpload.toFixed(1)} ms`).join(', ')} per upload`);
        await emptyBucket(client, s3.bucket);
      }

      const of = (c: Contender, pick: (s: Sample) => number) => samples.get(c)!.map(pick);
      const cpu = (role: string) => (s: Sample) => s.cpuMs[role]!;
      const tusdCpu = { name: 'tusd v2', value: median(of(tusdV2, cpu('tusd'))) };
      const line = (metric: string, c: Contender, pick: (s: Sample) => number, unit: string, baseline?: { name: string; value: number }, note = '') =>
        result(scenario.name, metric, median(of(c, pick)), unit, baseline, [note, spread(of(c, pick), 1)].filter(Boolean).join('; '));
      results.push(
        line('wall time per upload, GoVault via gateway', viaGateway, (s) => s.msPerUpload, 'ms', { name: 'tusd v2', value: median(of(tusdV2, (s) => s.msPerUpload)) }, `${IN_FLIGHT} in flight`),
        line('wall time per upload, GoVault upload service direct', straight, (s) => s.msPerUpload, 'ms'),
        line('CPU per upload, GoVault upload service', straight, cpu('upload'), 'ms', tusdCpu, 'no gateway hop'),
        line('CPU per upload, GoVault gateway', viaGateway, cpu('gateway'), 'ms'),
        line('CPU per upload, GoVault files service (registration)', straight, cpu('files'), 'ms'),
        line('CPU per upload, GoVault gateway + upload + files', viaGateway, (s) => s.cpuMs.gateway! + s.cpuMs.upload! + s.cpuMs.files!, 'ms', tusdCpu),
        line('CPU per upload, tusd', tusdV2, cpu('tusd'), 'ms'),
        line('S3 requests per upload, GoVault upload service', straight, (s) => s.s3Requests!, 'requests', undefined, 'its govault_s3_request_duration_seconds_count'),
      );
    });
    return results;
  },
};

export default scenario;
