import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { freePort } from '@govault/lib';
import { startCluster, type Cluster } from '../../e2e/cluster.ts';

/**
 * The real servers a benchmark runs against, all on loopback: versitygw for S3 (the one
 * CI uses) and tusd, the reference tus server, as the baseline.
 */
export interface S3Endpoint {
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The versitygw process, when this run started one (its CPU is the S3 side's share of the machine). */
  pid?: number;
  stop(): Promise<void>;
}

const goBin = () => {
  const path = `${process.env.PATH}:/usr/local/go/bin`;
  return join(execFileSync('go', ['env', 'GOPATH'], { env: { ...process.env, PATH: path } }).toString().trim(), 'bin');
};

/** Installs a Go tool at a pinned version unless it is there; returns its path. */
export function ensureGoTool(module: string, version: string, binary: string): string {
  const path = join(goBin(), binary);
  if (!existsSync(path)) {
    execFileSync('go', ['install', `${module}@${version}`], {
      stdio: 'inherit',
      env: { ...process.env, PATH: `${process.env.PATH}:/usr/local/go/bin` },
    });
  }
  return path;
}

export const ensureVersitygw = () => ensureGoTool('github.com/versity/versitygw/cmd/versitygw', 'v1.7.0', 'versitygw');
export const ensureTusd = () => ensureGoTool('github.com/tus/tusd/v2/cmd/tusd', 'v2.9.1', 'tusd');

/** S3 from the environment (S3_*), or a versitygw of our own on a fresh folder. */
export async function startS3(bucket = `bench-${randomBytes(4).toString('hex')}`): Promise<S3Endpoint> {
  const fromEnv = process.env.S3_ENDPOINT && process.env.S3_ACCESS_KEY_ID && process.env.S3_SECRET_ACCESS_KEY;
  let endpoint: string;
  let accessKeyId: string;
  let secretAccessKey: string;
  let stop = async () => undefined as void;
  let pid: number | undefined;
  if (fromEnv) {
    endpoint = process.env.S3_ENDPOINT!;
    accessKeyId = process.env.S3_ACCESS_KEY_ID!;
    secretAccessKey = process.env.S3_SECRET_ACCESS_KEY!;
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'govault-bench-s3-'));
    mkdirSync(join(dir, 'data'));
    mkdirSync(join(dir, 'meta'));
    const port = await freePort();
    accessKeyId = `bench${randomBytes(6).toString('hex')}`;
    secretAccessKey = randomBytes(20).toString('hex');
    // --keep-alive: versitygw closes every connection after one response unless told
    // otherwise, and S3 services keep them open; without it each request pays a TCP setup.
    const child = spawn(ensureVersitygw(), ['--port', `127.0.0.1:${port}`, '--health', '/health', '--keep-alive', 'posix', '--sidecar', join(dir, 'meta'), join(dir, 'data')], {
      env: { ...process.env, ROOT_ACCESS_KEY: accessKeyId, ROOT_SECRET_KEY: secretAccessKey },
      stdio: 'ignore',
    });
    endpoint = `http://127.0.0.1:${port}`;
    pid = child.pid;
    for (let i = 0; i < 100; i++) {
      if (await fetch(`${endpoint}/health`).then((r) => r.ok).catch(() => false)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    stop = async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    };
  }
  const client = s3Client({ endpoint, accessKeyId, secretAccessKey, region: 'us-east-1' });
  await client.send(new CreateBucketCommand({ Bucket: bucket })).catch((err: Error) => {
    if (!['BucketAlreadyOwnedByYou', 'BucketAlreadyExists'].includes(err.name)) throw err;
  });
  client.destroy();
  return { endpoint, bucket, region: 'us-east-1', accessKeyId, secretAccessKey, pid, stop };
}

export function s3Client(s3: { endpoint: string; accessKeyId: string; secretAccessKey: string; region: string }): S3Client {
  return new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** The environment that puts a GoVault cluster on this S3 endpoint. */
export function s3Env(s3: S3Endpoint): NodeJS.ProcessEnv {
  return {
    S3_ENDPOINT: s3.endpoint,
    S3_BUCKET: s3.bucket,
    S3_REGION: s3.region,
    S3_ACCESS_KEY_ID: s3.accessKeyId,
    S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
  };
}

/** Empties a bench bucket between rounds (objects and multipart uploads in flight). */
export async function emptyBucket(client: S3Client, bucket: string): Promise<void> {
  for (;;) {
    const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
    const keys = (listed.Contents ?? []).map((o) => ({ Key: o.Key! }));
    if (keys.length === 0) break;
    await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } }));
  }
  const pending = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  for (const u of pending.Uploads ?? []) await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key!, UploadId: u.UploadId! }));
}

/**
 * tusd v2 on loopback, storing in `s3` under `tusd/` with `partSize` parts and no content
 * hashes (GoVault's S3 client sends none either); answers once its OPTIONS does.
 */
export async function startTusd(s3: S3Endpoint, partSize: number): Promise<{ endpoint: string; process: ChildProcess; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn(
    ensureTusd(),
    ['-host', '127.0.0.1', '-port', String(port), '-base-path', '/files/', '-s3-bucket', s3.bucket, '-s3-endpoint', s3.endpoint,
      '-s3-part-size', String(partSize), '-s3-disable-content-hashes', '-s3-object-prefix', 'tusd/'],
    {
      env: { ...process.env, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: s3.region },
      stdio: 'ignore',
    },
  );
  const endpoint = `http://127.0.0.1:${port}/files/`;
  for (let i = 0; i < 100; i++) {
    if (await fetch(endpoint, { method: 'OPTIONS' }).then((r) => r.ok).catch(() => false)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    endpoint,
    process: child,
    stop: () => stopChild(child),
  };
}

/** What the tus scenarios measure against: GoVault with upload and files on S3, and tusd, both on one versitygw. */
export interface TusBenchStack {
  s3: S3Endpoint;
  cluster: Cluster;
  tusd: Awaited<ReturnType<typeof startTusd>>;
  /** A client of the same S3, to empty the bucket between rounds. */
  client: S3Client;
}

/** Starts the stack, runs `measure` on it, and stops it all (the bucket emptied) however `measure` ends. */
export async function withTusBenchStack<T>(partSize: number, measure: (stack: TusBenchStack) => Promise<T>): Promise<T> {
  const s3 = await startS3();
  const cluster = await startCluster('embedded', { serviceEnv: { upload: s3Env(s3), files: s3Env(s3), gateway: { RATE_LIMIT_MAX: '1000000' } } });
  const tusd = await startTusd(s3, partSize);
  const client = s3Client(s3);
  try {
    return await measure({ s3, cluster, tusd, client });
  } finally {
    await emptyBucket(client, s3.bucket).catch(() => undefined);
    client.destroy();
    await tusd.stop();
    await cluster.stop();
    await s3.stop();
  }
}

/**
 * One of bench/lib's bare Node servers (bare-proxy.ts, bare-receiver.ts) in a process of its
 * own, so that its CPU is its own and it shares no event loop with the client.
 */
export async function startBareNode(script: 'bare-proxy.ts' | 'bare-receiver.ts', env: NodeJS.ProcessEnv = {}): Promise<{ url: string; process: ChildProcess; stop(): Promise<void> }> {
  const entry = fileURLToPath(new URL(`./${script}`, import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', entry], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout!.once('data', (line: Buffer) => resolve(line.toString().trim()));
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    process: child,
    stop: () => stopChild(child),
  };
}

/** SIGTERM, then the exit awaited (at once if the process is already gone). */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}
