import pg from 'pg';
import { startCluster } from '../../e2e/cluster.ts';
import { registerAndLogin, type TestUser } from '../../e2e/client.ts';
import { availableModes } from '../../e2e/system.ts';
import { measureLatency } from '../lib/measure.ts';
import { result, type BenchResult, type Scenario } from '../lib/report.ts';

/**
 * GET /api/files?view=owned through the gateway for a user with 100,000 files, beside the
 * same request for a user with 100 files (the baseline, same run, same database). The
 * rows go in with one INSERT ... SELECT generate_series; VACUUM ANALYZE runs before measuring.
 */
const BIG = 100_000;
const SMALL = 100;
const REQUESTS = 400;
const CONCURRENCY = 4;

async function insertFiles(sql: pg.Pool, ownerId: string, count: number): Promise<void> {
  await sql.query(
    `INSERT INTO files.files (id, owner_id, upload_id, name, size, content_type, storage_key, created_at, updated_at)
     SELECT gen_random_uuid(), $1::uuid, $1::text || '-' || g, 'file ' || g || '.txt', g, 'text/plain', $1::text || '-' || g,
            now() - g * interval '1 second', now()
     FROM generate_series(1, $2::int) AS g`,
    [ownerId, count],
  );
}

async function listLatency(baseUrl: string, user: TestUser, query: string, requests = REQUESTS) {
  const call = async () => {
    const response = await fetch(`${baseUrl}/api/files?${query}`, { headers: user.auth });
    if (response.status !== 200) throw new Error(`list answered ${response.status}`);
    await response.arrayBuffer();
  };
  await measureLatency(call, 40, CONCURRENCY); // warm-up: connections, caches, JIT
  return measureLatency(call, requests, CONCURRENCY);
}

const scenario: Scenario = {
  name: 'files-list',
  description: `GET /api/files?view=owned (limit 50) via the gateway: ${BIG.toLocaleString('en')} files vs ${SMALL}`,
  async run(log) {
    const results: BenchResult[] = [];
    for (const mode of availableModes()) {
      const cluster = await startCluster(mode);
      const sql = new pg.Pool({ connectionString: cluster.env.FILES_DATABASE_URL, max: 2 });
      try {
        const [big, small] = [await registerAndLogin(cluster.baseUrl, 'Big'), await registerAndLogin(cluster.baseUrl, 'Small')];
        const started = Date.now();
        await insertFiles(sql, big.id, BIG);
        await insertFiles(sql, small.id, SMALL);
        // The steady state autovacuum would reach: statistics, visibility map, hint bits.
        await sql.query('VACUUM ANALYZE files.files');
        log(`${mode}: inserted ${BIG + SMALL} rows in ${((Date.now() - started) / 1000).toFixed(1)} s`);

        const baseline = await listLatency(cluster.baseUrl, small, 'view=owned&limit=50');
        const first = await listLatency(cluster.baseUrl, big, 'view=owned&limit=50');
        // A page deep in the list: the cursor of the 50,000th file.
        const { rows } = await sql.query<{ created_at: Date; id: string }>(
          'SELECT created_at, id FROM files.files WHERE owner_id = $1 AND deleted_at IS NULL ORDER BY created_at DESC, id DESC OFFSET 49999 LIMIT 1',
          [big.id],
        );
        const cursor = Buffer.from(JSON.stringify({ v: 'owned', t: rows[0]!.created_at.toISOString(), id: rows[0]!.id })).toString('base64url');
        const deep = await listLatency(cluster.baseUrl, big, `view=owned&limit=50&cursor=${cursor}`);
        const filtered = await listLatency(cluster.baseUrl, big, 'view=owned&limit=50&q=file%209999', 100);

        const scenarioName = `files-list (${mode})`;
        const base = (value: number) => ({ name: `${SMALL} files`, value });
        results.push(
          result(scenarioName, 'p50, first page, 100k files', first.p50, 'ms', base(baseline.p50)),
          result(scenarioName, 'p99, first page, 100k files', first.p99, 'ms', base(baseline.p99)),
          result(scenarioName, 'p50, page at file 50,000', deep.p50, 'ms', base(baseline.p50)),
          result(scenarioName, 'p99, page at file 50,000', deep.p99, 'ms', base(baseline.p99)),
          result(scenarioName, 'p50, q=file 9999 (11 matches)', filtered.p50, 'ms', { name: 'first page, 100k files', value: first.p50 }, 'trigram index (migration files/005); goal ≤ 2x'),
          result(scenarioName, 'throughput, first page, 100k files', first.rps, 'req/s', { name: `${SMALL} files`, value: baseline.rps }, `${CONCURRENCY} in flight`),
        );
        await sql.query('DELETE FROM files.files WHERE owner_id = ANY($1)', [[big.id, small.id]]);
      } finally {
        await sql.end();
        await cluster.stop();
      }
    }
    return results;
  },
};

export default scenario;
