import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import pg from 'pg';
import type { SmokeOutcome } from '../../server/launcher/src/image/smoke.ts';
import { COMPOSE_FILE, ENV_EXAMPLE, GoMissingError, loadComposeProject, type ComposeProject } from '../src/compose.ts';
import { adminDatabaseUrl, findVersitygw, missingForNativeRun, NativeCompose, type JobResult, type NativeOptions } from '../src/compose-native.ts';
import { suiteUnavailable } from './unavailable.ts';

/**
 * compose.yaml's wiring, run: every GoVault container of the project compose-go resolves
 * (with .env.example) started as a local process through the image's dispatcher, in
 * depends_on order, against a real PostgreSQL, Redis and a versitygw started with the s3
 * container's own command and environment; then the smoke job as compose runs it.
 */

const prepared = await (async (): Promise<{ project: ComposeProject; options: NativeOptions } | { missing: string[] }> => {
  let project: ComposeProject;
  try {
    project = loadComposeProject(COMPOSE_FILE, { envFile: ENV_EXAMPLE, profiles: ['*'] });
  } catch (err) {
    if (err instanceof GoMissingError) return { missing: [err.message] };
    throw err;
  }
  const options = { adminDatabaseUrl: adminDatabaseUrl(), redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', versitygw: findVersitygw() };
  const missing = await missingForNativeRun(options);
  return missing.length > 0 ? { missing } : { project, options: options as NativeOptions };
})();

if ('missing' in prepared) {
  suiteUnavailable('the native compose run', `missing: ${prepared.missing.join('; ')}`);
} else {
  const { project, options } = prepared;

  test('compose.yaml runs natively: the smoke job uploads through the gateway and downloads the same bytes from S3; broken S3 wiring fails it', async (t) => {
    t.timeout(240_000);
    const started = Date.now();
    const run = await NativeCompose.start(project, options);
    try {
      t.log(`all services healthy after ${((Date.now() - started) / 1000).toFixed(1)} s`);

      // The keys job wrote the least-privilege layout into the keys volume.
      const keys = run.volumeDir('keys');
      for (const service of ['gateway', 'auth', 'upload', 'files']) {
        t.deepEqual(readdirSync(join(keys, service)).sort(), [`${service}.key`, 'auth.pub', 'files.pub', 'gateway.pub', 'upload.pub'].sort(), `${service} holds only its own private key`);
      }
      t.deepEqual(readdirSync(join(keys, 'auth-signing')).sort(), ['signing.key', 'signing.pub']);

      const good = await run.runJob('smoke');
      const outcome = smokeOutcome(good);
      t.is(good.code, 0, `smoke failed: ${good.stdout}\n${good.stderr}\n${run.logs()}`);
      t.true(outcome.ok && outcome.matched, JSON.stringify(outcome));
      t.regex(outcome.uploadedSha256 ?? '', /^[0-9a-f]{64}$/);
      t.is(outcome.downloadedSha256, outcome.uploadedSha256, 'the bytes downloaded are the bytes uploaded');
      t.is(outcome.bytes, 5 * 1024 * 1024, 'SMOKE_BYTES from compose');
      t.is(outcome.downloadedFrom, `http://${run.address('s3', 7070)}`, 'the download was redirected to S3_PUBLIC_ENDPOINT (the published s3 port)');

      // Broken once: files signs its download URLs with a secret versitygw does not know.
      await run.restart('files', { S3_SECRET_ACCESS_KEY: 'not-the-secret-versitygw-was-started-with' });
      const broken = await run.runJob('smoke');
      const failure = smokeOutcome(broken);
      t.is(broken.code, 1, `smoke passed with broken S3 wiring: ${broken.stdout}`);
      t.false(failure.ok);
      t.regex(failure.error ?? '', /^download: /, 'the failing step is named');
      t.log(`native run done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    } catch (err) {
      t.log(run.logs());
      throw err;
    } finally {
      await run.stop();
    }
    t.deepEqual(await databasesWithSuffix(options.adminDatabaseUrl, run.suffix), [], 'every database of the run was dropped');
  });
}

/** The one JSON line the smoke job prints (its last line on stdout). */
function smokeOutcome(result: JobResult): SmokeOutcome {
  const line = result.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as SmokeOutcome;
  } catch {
    throw new Error(`smoke printed no JSON outcome (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
}

async function databasesWithSuffix(adminUrl: string, suffix: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>(
      `SELECT datname AS name FROM pg_database WHERE datname LIKE $1 UNION ALL SELECT rolname FROM pg_roles WHERE rolname LIKE $1`,
      [`%\\_${suffix}`],
    );
    return rows.map((row) => row.name);
  } finally {
    await client.end();
  }
}
