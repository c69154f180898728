import pg from 'pg';

const SERVICES = ['auth', 'upload', 'files'] as const;

export interface FreshDatabases {
  /** AUTH_/UPLOAD_/FILES_DATABASE_URL of the new databases. */
  env: Record<string, string>;
  drop(): Promise<void>;
}

/**
 * New, empty databases beside the run's real ones (same server, `<name>_<suffix>`), for a
 * suite whose assertions read database-wide numbers (the upload gauges, the expiry
 * sweep, the outbox): what other suites left in the shared databases would move them.
 * Databases of an earlier run that died are dropped and made again.
 */
export async function freshDatabases(suffix: string): Promise<FreshDatabases> {
  const urls = SERVICES.map((service) => {
    const url = process.env[`${service.toUpperCase()}_DATABASE_URL`];
    if (!url) throw new Error(`${service.toUpperCase()}_DATABASE_URL is not set`);
    const fresh = new URL(url);
    const name = `${fresh.pathname.slice(1)}_${suffix}`.slice(0, 63);
    fresh.pathname = `/${name}`;
    return { service, name, url: fresh.toString(), admin: adminUrl(url) };
  });
  const run = async (statements: (name: string) => string[]) => {
    for (const { name, admin } of urls) {
      const client = new pg.Client({ connectionString: admin });
      await client.connect();
      try {
        for (const sql of statements(pg.escapeIdentifier(name))) await client.query(sql);
      } finally {
        await client.end();
      }
    }
  };
  await run((name) => [`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`, `CREATE DATABASE ${name}`]);
  return {
    env: Object.fromEntries(urls.map(({ service, url }) => [`${service.toUpperCase()}_DATABASE_URL`, url])),
    drop: () => run((name) => [`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`]),
  };
}

function adminUrl(url: string): string {
  const admin = new URL(url);
  admin.pathname = '/postgres';
  return admin.toString();
}
