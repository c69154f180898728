import { request } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { InternalTokenIssuer } from '@govault/lib';
import { startCluster } from '../../e2e/cluster.ts';
import { registerAndLogin, type TestUser } from '../../e2e/client.ts';
import { startBareNode } from '../lib/infra.ts';
import { measureLatency, sampleRss } from '../lib/measure.ts';
import { result, type BenchResult, type Scenario } from '../lib/report.ts';

/**
 * What the gateway costs. (1) GET /api/files through the gateway beside the same request
 * sent straight to the files service with an internal token signed here (the baseline,
 * same run). Targets: at most 15 % added p50. Beside them, the same request through a bare
 * Node proxy (bench/lib/bare-proxy.ts): what one HTTP hop in Node costs with no
 * middleware at all, the floor for any gateway built this way. (2) Gateway RSS while one 2 GiB tus PATCH
 * streams through it; the bytes are generated on the fly. Target: under 50 MiB growth.
 * Embedded mode (disk storage): the gateway's work does not depend on the store.
 */
const MiB = 1024 * 1024;
const REQUESTS = 3_000;
const CONCURRENCY = 8;
const UPLOAD_BYTES = 2 * 1024 * MiB;

async function latency(call: () => Promise<void>, concurrency = CONCURRENCY) {
  await measureLatency(call, 300, concurrency); // warm-up: connections, JIT
  return measureLatency(call, REQUESTS, concurrency);
}

const ok = (response: Response) => {
  if (response.status !== 200) throw new Error(`answered ${response.status}`);
  return response.arrayBuffer();
};

/** 2 GiB of a repeating 1 MiB pattern, made as it is read: nothing near that size is held. */
function generated(total: number): Readable {
  const block = Buffer.alloc(MiB, 0x5a);
  let left = total;
  return new Readable({
    read() {
      if (left === 0) return void this.push(null);
      const size = Math.min(block.length, left);
      left -= size;
      this.push(size === block.length ? block : block.subarray(0, size));
    },
  });
}

async function tusUpload(baseUrl: string, user: TestUser, size: number): Promise<number> {
  const created = await fetch(`${baseUrl}/api/uploads/tus`, {
    method: 'POST',
    headers: { ...user.auth, 'Tus-Resumable': '1.0.0', 'Upload-Length': String(size), 'Upload-Metadata': `filename ${Buffer.from('big.bin').toString('base64')}` },
  });
  if (created.status !== 201) throw new Error(`create answered ${created.status}`);
  const location = new URL(created.headers.get('location')!, baseUrl);
  return new Promise<number>((resolve, reject) => {
    const patch = request(
      location,
      {
        method: 'PATCH',
        headers: { ...user.auth, 'Tus-Resumable': '1.0.0', 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream', 'Content-Length': String(size) },
      },
      (response) => {
        response.resume();
        response.once('end', () => (response.statusCode === 204 ? resolve(Number(response.headers['upload-offset'])) : reject(new Error(`PATCH answered ${response.statusCode}`))));
      },
    );
    patch.once('error', reject);
    pipeline(generated(size), patch).catch(reject);
  });
}

const scenario: Scenario = {
  name: 'gateway-overhead',
  description: 'GET /api/files via the gateway vs straight to files; gateway RSS during a 2 GiB tus upload',
  async run(log) {
    const results: BenchResult[] = [];
    const cluster = await startCluster('embedded', { serviceEnv: { gateway: { RATE_LIMIT_MAX: '1000000000' } } });
    const bare = await startBareNode('bare-proxy.ts', { TARGET: cluster.files.url });
    try {
      const user = await registerAndLogin(cluster.baseUrl);
      const issuer = InternalTokenIssuer.fromKeyDir(join(cluster.dataDir, 'keys'), 'gateway');
      const viaGateway = () => fetch(`${cluster.baseUrl}/api/files`, { headers: user.auth }).then(ok).then(() => undefined);
      const straightTo = (baseUrl: string) => () =>
        fetch(`${baseUrl}/api/files`, {
          headers: { 'x-internal-token': issuer.issue('files', { userId: user.id }), 'x-user-id': user.id },
        })
          .then(ok)
          .then(() => undefined);
      const direct = straightTo(cluster.files.url);
      const viaBareProxy = straightTo(bare.url);
      // Alternating runs, best of two each: the machine is shared, and noise only ever adds time.
      const runs = { gateway: [] as Awaited<ReturnType<typeof latency>>[], direct: [] as Awaited<ReturnType<typeof latency>>[], bare: [] as Awaited<ReturnType<typeof latency>>[] };
      for (let i = 0; i < 2; i++) {
        runs.direct.push(await latency(direct));
        runs.gateway.push(await latency(viaGateway));
        runs.bare.push(await latency(viaBareProxy));
      }
      const best = (list: typeof runs.gateway) => list.reduce((a, b) => (b.p50 < a.p50 ? b : a));
      const [gw, base, floor] = [best(runs.gateway), best(runs.direct), best(runs.bare)];
      log(`gateway p50 ${gw.p50.toFixed(2)} ms p99 ${gw.p99.toFixed(2)} ms ${gw.rps.toFixed(0)} req/s; direct p50 ${base.p50.toFixed(2)} ms p99 ${base.p99.toFixed(2)} ms ${base.rps.toFixed(0)} req/s; bare proxy p50 ${floor.p50.toFixed(2)} ms`);
      const baseline = (value: number) => ({ name: 'direct to files', value });
      results.push(
        result('gateway-overhead', 'GET /api/files p50', gw.p50, 'ms', baseline(base.p50), `target ≤ 1.15x; ${CONCURRENCY} concurrent`),
        result('gateway-overhead', 'GET /api/files p99', gw.p99, 'ms', baseline(base.p99)),
        result('gateway-overhead', 'GET /api/files throughput', gw.rps, 'req/s', baseline(base.rps)),
        result('gateway-overhead', 'GET /api/files p50 added', gw.p50 - base.p50, 'ms'),
        result('gateway-overhead', 'GET /api/files p50, bare Node proxy', floor.p50, 'ms', baseline(base.p50), 'floor: one Node HTTP hop, no middleware'),
        result('gateway-overhead', 'GET /api/files p50, gateway vs the bare Node proxy', gw.p50, 'ms', { name: 'bare Node proxy', value: floor.p50 }, `goal ≤ 1.15x; ${CONCURRENCY} concurrent`),
      );

      // One request at a time: the hop itself, without the queue for two shared cores.
      const [gwSerial, baseSerial, floorSerial] = [await latency(viaGateway, 1), await latency(direct, 1), await latency(viaBareProxy, 1)];
      log(`one at a time: gateway p50 ${gwSerial.p50.toFixed(2)} ms; direct p50 ${baseSerial.p50.toFixed(2)} ms; bare proxy p50 ${floorSerial.p50.toFixed(2)} ms`);
      results.push(
        result('gateway-overhead', 'GET /api/files p50, one at a time', gwSerial.p50, 'ms', baseline(baseSerial.p50), 'target ≤ 1.15x'),
        result('gateway-overhead', 'GET /api/files p50, one at a time, bare Node proxy', floorSerial.p50, 'ms', baseline(baseSerial.p50), 'floor: one Node HTTP hop, no middleware'),
        result('gateway-overhead', 'GET /api/files p50, one at a time, gateway vs the bare Node proxy', gwSerial.p50, 'ms', { name: 'bare Node proxy', value: floorSerial.p50 }, 'goal ≤ 1.15x'),
      );

      const pid = cluster.gateway.pid!;
      const sampler = sampleRss(pid, 50);
      const started = Date.now();
      const offset = await tusUpload(cluster.baseUrl, user, UPLOAD_BYTES);
      const seconds = (Date.now() - started) / 1000;
      const { peakMiB, startMiB } = sampler.stop();
      if (offset !== UPLOAD_BYTES) throw new Error(`upload ended at ${offset}`);
      log(`2 GiB through the gateway in ${seconds.toFixed(1)} s; gateway RSS ${startMiB.toFixed(0)} → peak ${peakMiB.toFixed(0)} MiB`);
      results.push(
        result('gateway-overhead', 'gateway RSS growth, 2 GiB tus PATCH', peakMiB - startMiB, 'MiB', undefined, `target < 50 MiB; start ${startMiB.toFixed(0)} MiB, peak ${peakMiB.toFixed(0)} MiB`),
        result('gateway-overhead', '2 GiB tus PATCH throughput', UPLOAD_BYTES / MiB / seconds, 'MiB/s'),
      );
    } finally {
      await bare.stop();
      await cluster.stop();
    }
    return results;
  },
};

export default scenario;
