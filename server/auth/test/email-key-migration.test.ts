import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import pg from 'pg';
import { createLogger, migrate, normalizeEmail } from '@govault/lib';
import { testDatabase } from '@govault/lib/testing';

/** Migration 003 on a database that already has users: the key it backfills is the one the code looks up. */
const migrationsDir = fileURLToPath(new URL('../../../migrations/auth', import.meta.url));
const logger = createLogger('test', 'silent');

test('003 backfills email_key with normalizeEmail() of every existing address, and keeps it unique', async (t) => {
  const db = await testDatabase('auth');
  const schema = `auth_email_key_${process.pid}`;
  const before = mkdtempSync(join(tmpdir(), 'govault-auth-migrations-'));
  for (const file of ['001_users_and_tokens.sql', '002_login_failures.sql']) copyFileSync(join(migrationsDir, file), join(before, file));
  const sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  t.teardown(async () => {
    await sql.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await sql.end();
    await db.stop();
  });

  await migrate({ url: db.url, schema, migrationsDir: before }, logger);
  // Registration took ASCII only; the full-width row shows both engines' normalize(.., NFKC) works too.
  const emails = ['Alice@Example.com', 'bob.SMITH+tag@example.org', 'KELVIN@example.net', 'ＦＵＬＬ@example.com'];
  for (const [i, email] of emails.entries()) {
    await sql.query(`INSERT INTO ${schema}.users (id, email) VALUES ($1, $2)`, [`00000000-0000-4000-8000-00000000000${i}`, email]);
  }

  t.deepEqual(await migrate({ url: db.url, schema, migrationsDir }, logger), ['003_users_email_key.sql']);
  const { rows } = await sql.query<{ email: string; email_key: string }>(`SELECT email, email_key FROM ${schema}.users ORDER BY id`);
  t.deepEqual(rows.map((r) => r.email_key), emails.map(normalizeEmail));
  t.deepEqual(rows.map((r) => r.email), emails, 'the address as typed stays');

  const duplicate = sql.query(`INSERT INTO ${schema}.users (id, email, email_key) VALUES (gen_random_uuid(), 'x@y.z', $1)`, [normalizeEmail(emails[0]!)]);
  await t.throwsAsync(duplicate, { message: /duplicate key/ });
});
