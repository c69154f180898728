import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { MikroORM, type EntitySchema, type Options } from '@mikro-orm/postgresql';
import pg from 'pg';
import type { Logger } from 'pino';

/**
 * Each service keeps its tables in a schema named after it. In real mode each service
 * also has a database of its own; in embedded mode the schemas share one PGlite instance.
 */
export interface DatabaseSettings {
  url: string;
  schema: string;
  migrationsDir: string;
  poolSize?: number;
}

export async function openOrm(settings: DatabaseSettings, entities: EntitySchema<any, any>[]): Promise<MikroORM> {
  const options: Options = {
    clientUrl: settings.url,
    schema: settings.schema,
    entities,
    pool: { min: 0, max: settings.poolSize ?? 10 },
    allowGlobalContext: false,
    debug: false,
    discovery: { warnWhenNoEntities: false },
  };
  return MikroORM.init(options);
}

/**
 * Applies `migrations/<service>/*.sql` in name order, each once, in one transaction
 * under an advisory lock so that several instances starting together do not race.
 * Statements run with the service schema as search_path (SET LOCAL, so it cannot leak
 * to other sessions of a shared embedded server).
 */
export async function migrate(settings: DatabaseSettings, logger: Logger): Promise<string[]> {
  const files = readdirSync(settings.migrationsDir)
    .filter((f) => f.endsWith('.sql'))
    .sort();
  const client = new pg.Client({ connectionString: settings.url });
  await client.connect();
  const schema = pg.escapeIdentifier(settings.schema);
  const applied: string[] = [];
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [lockKey(settings.schema)]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query(`SET LOCAL search_path TO ${schema}`);
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const done = new Set((await client.query<{ name: string }>('SELECT name FROM schema_migrations')).rows.map((r) => r.name));
    for (const file of files.filter((f) => !done.has(f))) {
      await client.query(readFileSync(join(settings.migrationsDir, file), 'utf8'));
      await client.query('INSERT INTO schema_migrations (name) VALUES ($1)', [file]);
      applied.push(file);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    await client.end();
  }
  if (applied.length > 0) logger.info({ schema: settings.schema, applied }, 'migrations applied');
  return applied;
}

function lockKey(schema: string): string {
  return createHash('sha256').update(`govault-migrate:${schema}`).digest().readBigInt64BE(0).toString();
}

export async function pingDatabase(orm: MikroORM): Promise<void> {
  await orm.em.getConnection().execute('SELECT 1');
}
