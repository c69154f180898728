import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import pg from 'pg';
import { eventually, login, ownedFiles, registerAndLogin, ROOT, startLauncher, uploadThroughGateway, type Launcher } from './launcher-process.ts';

/**
 * (ci: picks its own database: real PostgreSQL. The embedded database is one launcher's
 * alone and runs one transaction at a time, so migrations cannot race there.)
 *
 * Several instances of every service starting at once against one fresh database set: two
 * launchers on different ports and data folders, sharing real PostgreSQL (as two hosts of
 * one deployment would). Each service migrates its database before it listens.
 *
 * On a loaded machine one launcher could finish migrating before the other begins, so the
 * test makes them overlap: it holds an uncommitted `CREATE SCHEMA <service>` in each fresh
 * database until both instances of that service are waiting on a lock in it, then rolls
 * it back and lets them race.
 */
const SERVICES = ['auth', 'upload', 'files'] as const;
const missing = SERVICES.map((s) => `${s.toUpperCase()}_DATABASE_URL`).filter((name) => !process.env[name]);
const required = process.env.GOVAULT_REQUIRE_REAL_SERVICES === '1';
if (missing.length > 0 && !required) {
  console.warn(`launcher migrations test skipped: it needs real PostgreSQL (${missing.join(', ')} not set)`);
}

const migrationsOf = (service: string) =>
  readdirSync(join(ROOT, 'migrations', service))
    .filter((file) => file.endsWith('.sql'))
    .sort();

(missing.length === 0 || required ? test : test.skip)(
  'two launchers started at once on a fresh real PostgreSQL database set: both ready, each migration applied once, uploads work',
  async (t) => {
    if (missing.length > 0) return t.fail(`GOVAULT_REQUIRE_REAL_SERVICES=1 but ${missing.join(', ')} not set`);
    const prefix = `govault_launcher_migrate_${randomBytes(4).toString('hex')}`;
    const databases = await Promise.all(SERVICES.map((service) => freshDatabase(process.env[`${service.toUpperCase()}_DATABASE_URL`]!, `${prefix}_${service}`)));
    t.teardown(() => Promise.all(databases.map((d) => d.drop())).then(() => undefined));
    const urls = Object.fromEntries(SERVICES.map((service, i) => [`${service.toUpperCase()}_DATABASE_URL`, databases[i]!.url]));

    const gates = await Promise.all(SERVICES.map((service, i) => holdSchema(databases[i]!.url, service)));
    const launchers: Launcher[] = [];
    // A launcher that does not come up is destroyed by startLauncher itself.
    const starting = [0, 1].map(() => startLauncher({ keepRealServices: true, env: urls }).then((launcher) => launchers.push(launcher) && launcher));
    for (const launcher of starting) launcher.catch(() => undefined);
    t.teardown(async () => {
      for (const gate of gates) await gate.release();
      await Promise.allSettled(starting);
      for (const launcher of launchers) await launcher.destroy();
    });
    for (const [i, gate] of gates.entries()) {
      t.true(await eventually(async () => (await gate.waiting()) >= 2, 180_000), `both ${SERVICES[i]} instances wait in their migration`);
    }
    for (const gate of gates) await gate.release();
    const [a, b] = (await Promise.all(starting)) as [Launcher, Launcher];
    const output = [...a.lines, ...b.lines];
    t.deepEqual(
      output.filter((line) => /^launcher\| .*(exited|could not start)/.test(line)),
      [],
      'no instance failed or was restarted',
    );
    for (const [i, service] of SERVICES.entries()) {
      t.deepEqual(await databases[i]!.appliedMigrations(service), migrationsOf(service).map((name) => ({ name, times: 1 })), `${service}: each migration once`);
      // The instance that came second found the work done and applied nothing.
      const applied = output.filter((line) => new RegExp(`^${service}\\s*\\|.*"msg":"migrations applied"`).test(line));
      t.is(applied.length, 1, `${service}: one instance applied the migrations`);
      t.deepEqual((JSON.parse(applied[0]!.slice(applied[0]!.indexOf('{'))) as { applied: string[] }).applied, migrationsOf(service));
    }

    // One database set: a user registered through one launcher logs in and uploads through
    // the other, and the first lists the file.
    const registered = await registerAndLogin(a.baseUrl);
    const atB = await login(b.baseUrl, registered.email, registered.password);
    const upload = await uploadThroughGateway(b.baseUrl, atB, 'two-launchers.txt');
    t.is(upload.status, 201);
    t.truthy(upload.fileId);
    t.true(upload.listed);
    t.true((await ownedFiles(a.baseUrl, registered)).some((file) => file.id === upload.fileId));
  },
);

interface FreshDatabase {
  url: string;
  appliedMigrations(schema: string): Promise<Array<{ name: string; times: number }>>;
  drop(): Promise<void>;
}

/** A new, empty database on the server of `serverUrl` (the run's own databases may already be migrated). */
async function freshDatabase(serverUrl: string, name: string): Promise<FreshDatabase> {
  const admin = async <T>(work: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  };
  await admin((c) => c.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    appliedMigrations: async (schema) => {
      const client = new pg.Client({ connectionString: url.toString() });
      await client.connect();
      try {
        const { rows } = await client.query<{ name: string; times: number }>(
          `SELECT name, count(*)::int AS times FROM ${pg.escapeIdentifier(schema)}.schema_migrations GROUP BY name ORDER BY name`,
        );
        return rows;
      } finally {
        await client.end();
      }
    },
    drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`)).then(() => undefined),
  };
}

/** An open transaction that has created `schema`: every other creation of it waits until `release()`. */
async function holdSchema(url: string, schema: string) {
  const holder = new pg.Client({ connectionString: url });
  // Outside the holder's transaction, which would see one snapshot of pg_stat_activity only.
  const observer = new pg.Client({ connectionString: url });
  await Promise.all([holder.connect(), observer.connect()]);
  await holder.query('BEGIN');
  await holder.query(`CREATE SCHEMA ${pg.escapeIdentifier(schema)}`);
  let released = false;
  return {
    /** Sessions of other clients in this database that wait on a lock. */
    waiting: async () => {
      const { rows } = await observer.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'`,
      );
      return rows[0]!.n;
    },
    release: async () => {
      if (released) return;
      released = true;
      await holder.query('ROLLBACK');
      await Promise.all([holder.end(), observer.end()]);
    },
  };
}
