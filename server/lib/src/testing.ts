import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { S3Settings } from './config.ts';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded-postgres.ts';
import { InternalTokenIssuer } from './internal-token.ts';
import { ensureServiceKeys } from './keys.ts';
import { createS3Client } from './s3.ts';

/**
 * Test infrastructure. With `<SERVICE>_DATABASE_URL` set the suites run against that real
 * PostgreSQL; without it against an embedded one. With GOVAULT_REQUIRE_REAL_SERVICES=1 (CI)
 * a missing variable fails the suite instead of falling back.
 *
 * GOVAULT_TEST_MODE=embedded (CI's second pass, `npm run test:embedded`) asks for embedded
 * mode on purpose, as `npm start` runs by default: PGlite and local disk even where real
 * services are required (Redis stays required). A database or S3 variable still set is
 * then an error, since a test or a child process that reads it would leave embedded mode.
 */
export const requireRealServices = process.env.GOVAULT_REQUIRE_REAL_SERVICES === '1';

export const embeddedMode = process.env.GOVAULT_TEST_MODE === 'embedded';

const REAL_SERVICE_VARIABLES = [
  'AUTH_DATABASE_URL',
  'UPLOAD_DATABASE_URL',
  'FILES_DATABASE_URL',
  'S3_ENDPOINT',
  'S3_PUBLIC_ENDPOINT',
  'S3_BUCKET',
  'S3_ACCESS_KEY_ID',
  'S3_SECRET_ACCESS_KEY',
];

function assertNoRealServices(): void {
  const set = REAL_SERVICE_VARIABLES.filter((name) => process.env[name]);
  if (set.length > 0) throw new Error(`GOVAULT_TEST_MODE=embedded but ${set.join(', ')} set: unset them for the embedded pass`);
}

export interface TestDatabase {
  url: string;
  kind: 'real' | 'embedded';
  stop(): Promise<void>;
}

type Service = 'auth' | 'upload' | 'files';

export async function testDatabase(service: Service): Promise<TestDatabase> {
  const { [service]: database } = await testDatabases([service]);
  return database!;
}

/**
 * Databases for several services. Embedded, they share one PGlite instance (one schema
 * per service, as `npm start` runs them), since each instance costs seconds and memory.
 */
export async function testDatabases<S extends Service>(services: S[]): Promise<Record<S, TestDatabase>> {
  if (embeddedMode) {
    assertNoRealServices();
    return embeddedDatabases(services);
  }
  const urls = services.map((service) => [service, process.env[`${service.toUpperCase()}_DATABASE_URL`]] as const);
  const missing = urls.filter(([, url]) => !url).map(([service]) => `${service.toUpperCase()}_DATABASE_URL`);
  if (missing.length === 0) {
    return Object.fromEntries(urls.map(([service, url]) => [service, { url: url!, kind: 'real', stop: async () => undefined }])) as Record<S, TestDatabase>;
  }
  if (requireRealServices) throw new Error(`${missing.join(', ')} must be set when GOVAULT_REQUIRE_REAL_SERVICES=1`);
  return embeddedDatabases(services);
}

async function embeddedDatabases<S extends Service>(services: S[]): Promise<Record<S, TestDatabase>> {
  const embedded: EmbeddedPostgres = await startEmbeddedPostgres();
  let running = services.length;
  const stop = async () => {
    if (--running === 0) await embedded.stop();
  };
  return Object.fromEntries(services.map((service) => [service, { url: embedded.url, kind: 'embedded', stop }])) as Record<S, TestDatabase>;
}

export interface TestS3 {
  bucket: string;
  /** The settings as a service's configuration takes them. */
  settings: S3Settings;
  /** The S3_* variables that put a service on this server. */
  env: Record<string, string>;
}

/** The real S3 server of the run, or undefined (local disk; an error when real services are required outside embedded mode). */
export function testS3(): TestS3 | undefined {
  if (embeddedMode) {
    assertNoRealServices();
    return undefined;
  }
  const { S3_ENDPOINT, S3_BUCKET, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY } = process.env;
  if (S3_ENDPOINT && S3_BUCKET && S3_ACCESS_KEY_ID && S3_SECRET_ACCESS_KEY) {
    const region = process.env.S3_REGION ?? 'us-east-1';
    return {
      bucket: S3_BUCKET,
      settings: {
        endpoint: S3_ENDPOINT,
        publicEndpoint: S3_ENDPOINT,
        bucket: S3_BUCKET,
        region,
        accessKeyId: S3_ACCESS_KEY_ID,
        secretAccessKey: S3_SECRET_ACCESS_KEY,
        forcePathStyle: true,
      },
      env: {
        S3_ENDPOINT,
        S3_BUCKET,
        S3_REGION: region,
        S3_ACCESS_KEY_ID,
        S3_SECRET_ACCESS_KEY,
      },
    };
  }
  if (requireRealServices) throw new Error('S3_* must be set when GOVAULT_REQUIRE_REAL_SERVICES=1');
  return undefined;
}

/** Polls `check` until it holds or `timeoutMs` passes; answers its last result. */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 3_000, intervalMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  return check();
}

/** The bytes of one stored object, as a test compares them with what it uploaded. */
export async function readTestObject(client: S3Client, bucket: string, key: string): Promise<Buffer> {
  const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await object.Body!.transformToByteArray());
}

/** A client for the test S3 server, with its bucket made if it is not there yet. The caller destroys it. */
export async function openTestBucket(s3: TestS3): Promise<S3Client> {
  const client = createS3Client(s3.settings);
  await client.send(new CreateBucketCommand({ Bucket: s3.bucket })).catch((err: Error) => {
    if (!['BucketAlreadyOwnedByYou', 'BucketAlreadyExists'].includes(err.name)) throw err;
  });
  return client;
}

/** A fresh folder of service key pairs, and issuers that sign as each service. */
export function testServiceKeys(): { dir: string; issuerFor(service: string): InternalTokenIssuer } {
  const dir = mkdtempSync(join(tmpdir(), 'govault-keys-'));
  ensureServiceKeys(dir);
  return { dir, issuerFor: (service) => InternalTokenIssuer.fromKeyDir(dir, service) };
}

export { ServiceProcess } from './service-process.ts';
