import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded-postgres.ts';

/**
 * Test infrastructure. With `<SERVICE>_DATABASE_URL` set the suites run against that real
 * PostgreSQL; without it against an embedded one. With GOVAULT_REQUIRE_REAL_SERVICES=1 (CI)
 * a missing variable fails the suite instead of falling back.
 */
export const requireRealServices = process.env.GOVAULT_REQUIRE_REAL_SERVICES === '1';

export interface TestDatabase {
  url: string;
  kind: 'real' | 'embedded';
  stop(): Promise<void>;
}

export async function testDatabase(service: 'auth' | 'upload' | 'files'): Promise<TestDatabase> {
  const variable = `${service.toUpperCase()}_DATABASE_URL`;
  const url = process.env[variable];
  if (url) return { url, kind: 'real', stop: async () => undefined };
  if (requireRealServices) throw new Error(`${variable} must be set when GOVAULT_REQUIRE_REAL_SERVICES=1`);
  const embedded: EmbeddedPostgres = await startEmbeddedPostgres();
  return { url: embedded.url, kind: 'embedded', stop: embedded.stop };
}

export interface TestS3 {
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/** The real S3 server of the run, or undefined (an error when real services are required). */
export function testS3(): TestS3 | undefined {
  const { S3_ENDPOINT, S3_BUCKET, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY } = process.env;
  if (S3_ENDPOINT && S3_BUCKET && S3_ACCESS_KEY_ID && S3_SECRET_ACCESS_KEY) {
    return {
      endpoint: S3_ENDPOINT,
      bucket: S3_BUCKET,
      region: process.env.S3_REGION ?? 'us-east-1',
      accessKeyId: S3_ACCESS_KEY_ID,
      secretAccessKey: S3_SECRET_ACCESS_KEY,
    };
  }
  if (requireRealServices) throw new Error('S3_* must be set when GOVAULT_REQUIRE_REAL_SERVICES=1');
  return undefined;
}

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InternalTokenIssuer } from './internal-token.ts';
import { ensureServiceKeys } from './keys.ts';

/** A fresh folder of service key pairs, and issuers that sign as each service. */
export function testServiceKeys(): { dir: string; issuerFor(service: string): InternalTokenIssuer } {
  const dir = mkdtempSync(join(tmpdir(), 'govault-keys-'));
  ensureServiceKeys(dir);
  return { dir, issuerFor: (service) => InternalTokenIssuer.fromKeyDir(dir, service) };
}
