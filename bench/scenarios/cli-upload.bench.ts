import { execFileSync, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { postJson } from '../../e2e/client.ts';
import { startCluster } from '../../e2e/cluster.ts';
import { s3Env, startS3 } from '../lib/infra.ts';
import { median } from '../lib/measure.ts';
import { result, type Scenario } from '../lib/report.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** BENCH_CLI_MIB shrinks the file for a quick look; the README numbers use the default. */
const SIZE = Number(process.env.BENCH_CLI_MIB ?? 512) * MiB;
const CHUNK = 8 * MiB;
const ROUNDS = 3;
const root = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Runs a command under bash and reads, from bash's `times`, the CPU its children used:
 * the client's whole cost, start-up included.
 */
function timed(command: string[], env: NodeJS.ProcessEnv): Promise<{ seconds: number; cpu: number }> {
  const quoted = command.map((part) => `'${part.replaceAll("'", "'\\''")}'`).join(' ');
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn('bash', ['-c', `${quoted} >/dev/null || exit 1; times`], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.once('exit', (code) => {
      const seconds = (performance.now() - started) / 1000;
      if (code !== 0) return reject(new Error(`${command.join(' ')} exited ${code}`));
      // The second line of `times` is the children's "user system", as 0m1.234s 0m0.567s.
      const minutes = [...(out.trim().split('\n').pop() ?? '').matchAll(/(\d+)m([\d.]+)s/g)];
      resolve({ seconds, cpu: minutes.reduce((sum, [, m, s]) => sum + Number(m) * 60 + Number(s), 0) });
    });
  });
}

const scenario: Scenario = {
  name: 'cli-upload',
  description: `one ${SIZE / MiB} MiB file from disk to S3 (versitygw) with the govault CLI vs stock tus-js-client, ${CHUNK / MiB} MiB chunks, same server`,
  async run(log) {
    const s3 = await startS3();
    const cluster = await startCluster('embedded', { serviceEnv: { upload: s3Env(s3), files: s3Env(s3) } });
    const dir = mkdtempSync(join(tmpdir(), 'govault-bench-cli-'));
    try {
      const file = join(dir, 'bench.bin');
      writeFileSync(file, randomBytes(SIZE));
      const user = { email: `bench-${randomUUID()}@example.test`, password: randomBytes(12).toString('hex') };
      await postJson(`${cluster.baseUrl}/api/auth/register`, user);
      const { accessToken } = (await postJson(`${cluster.baseUrl}/api/auth/login`, user)).body as { accessToken: string };
      const env = { ...process.env, XDG_CONFIG_HOME: join(dir, 'config'), XDG_STATE_HOME: join(dir, 'state'), GOVAULT_SERVER: cluster.baseUrl };
      const cli = [process.execPath, join(root, 'cli/bin/govault.mjs')];
      execFileSync(cli[0]!, [...cli.slice(1), 'login', '--email', user.email, '--password-stdin'], { env, input: user.password });

      const contenders: Record<string, string[]> = {
        'tus-js-client': [process.execPath, '--import', 'tsx', join(root, 'bench/lib/tus-js-client-upload.ts'), `${cluster.baseUrl}/api/uploads/tus`, accessToken, file, String(CHUNK)],
        'govault upload': [...cli, 'upload', '--again', file],
        'govault upload --no-checksum': [...cli, 'upload', '--again', '--no-checksum', file],
        'govault upload --direct': [...cli, 'upload', '--again', '--direct', file],
      };
      const names = Object.keys(contenders);
      const runs = new Map(names.map((name) => [name, [] as Array<{ seconds: number; cpu: number }>]));
      for (let round = 0; round < ROUNDS; round++) {
        // Rotate the order, and start each run with the previous one's dirty pages written back.
        for (const name of [...names.slice(round % names.length), ...names.slice(0, round % names.length)]) {
          execFileSync('sync');
          runs.get(name)!.push(await timed(contenders[name]!, { ...env, PATH: process.env.PATH }));
        }
        log(`round ${round + 1}: ${names.map((n) => `${n} ${(SIZE / MiB / runs.get(n)!.at(-1)!.seconds).toFixed(0)} MiB/s`).join(', ')}`);
      }
      const rate = (name: string) => median(runs.get(name)!.map((r) => SIZE / MiB / r.seconds));
      const cpu = (name: string) => median(runs.get(name)!.map((r) => r.cpu)) / (SIZE / GiB);
      const baseline = { name: 'tus-js-client', value: rate('tus-js-client') };
      const cpuBaseline = { name: 'tus-js-client', value: cpu('tus-js-client') };
      return names.flatMap((name) => [
        result('cli-upload', `${name}: throughput (median of ${ROUNDS})`, rate(name), 'MiB/s', name === 'tus-js-client' ? undefined : baseline, name === 'govault upload' ? 'includes hashing the whole file first (sha256) and per-chunk checksums' : undefined),
        result('cli-upload', `${name}: client CPU per GiB`, cpu(name), 's', name === 'tus-js-client' ? undefined : cpuBaseline),
      ]);
    } finally {
      await cluster.stop();
      await s3.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

export default scenario;
