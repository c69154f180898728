import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { z } from 'zod';
import { BAD_ENVIRONMENT, parseCommandEnv } from './command-env.ts';

const MiB = 1024 * 1024;

export const smokeEnvSchema = z.object({
  /** The gateway, as the deployment's own network reaches it (compose: http://gateway:8080). */
  SMOKE_URL: z.url().transform((url) => url.replace(/\/+$/, '')),
  SMOKE_BYTES: z.coerce.number().int().min(1).max(1024 * MiB).default(5 * MiB),
  SMOKE_TIMEOUT_SECONDS: z.coerce.number().int().positive().default(120),
  /**
   * `HOST:PORT=HOST2:PORT2,...`, as curl's --connect-to: requests for HOST:PORT are sent to
   * HOST2:PORT2 with their Host unchanged. Presigned S3 URLs are signed for the address
   * people reach (compose: S3_PUBLIC_ENDPOINT=http://localhost:7070), which inside the
   * deployment's network is another one (s3:7070); the signature covers Host, so the URL
   * cannot be rewritten, only routed.
   */
  SMOKE_CONNECT_TO: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((pair) => pair.trim()).filter(Boolean))
    .pipe(z.array(z.string().regex(/^[^=:\s]+:\d+=[^=:\s]+:\d+$/, 'HOST:PORT=HOST2:PORT2')))
    .transform((pairs) => new Map(pairs.map((pair) => pair.split('=') as [string, string]))),
});
export type SmokeConfig = z.infer<typeof smokeEnvSchema>;

/** The one JSON line the smoke test prints. */
export interface SmokeOutcome {
  command: 'smoke';
  ok: boolean;
  url: string;
  email?: string;
  fileId?: string;
  bytes: number;
  uploadedSha256?: string;
  downloadedSha256?: string;
  matched: boolean;
  /** Where the bytes came from: the gateway itself (embedded storage) or the host a redirect led to (S3). */
  downloadedFrom?: string;
  seconds: number;
  /** The step that failed, and why. */
  error?: string;
}

/** A failed step, named so that the outcome says where the deployment broke. */
class StepFailed extends Error {
  constructor(step: string, reason: string) {
    super(`${step}: ${reason}`);
  }
}

/**
 * The whole path a user takes, against a running deployment: register a fresh account,
 * sign in and upload a generated file with the govault CLI (tus, through the gateway to
 * the upload service and its store), then download it through /api/files/:id/content,
 * following the redirect to S3 when there is one, and compare SHA-256.
 */
export async function smoke(config: SmokeConfig): Promise<SmokeOutcome> {
  const started = Date.now();
  const outcome: SmokeOutcome = { command: 'smoke', ok: false, url: config.SMOKE_URL, bytes: config.SMOKE_BYTES, matched: false, seconds: 0 };
  const work = await mkdtemp(join(tmpdir(), 'govault-smoke-'));
  try {
    const file = join(work, `smoke-${randomBytes(4).toString('hex')}.bin`);
    outcome.uploadedSha256 = await writeRandomFile(file, config.SMOKE_BYTES);
    const email = `smoke-${randomBytes(6).toString('hex')}@smoke.govault.test`;
    const password = randomBytes(18).toString('base64url');
    outcome.email = email;

    await register(config.SMOKE_URL, email, password);
    const cli = await cliIn(work, config.SMOKE_URL);
    await cli.run('login', ['login', '--email', email, '--password-stdin'], password);
    const uploaded = await cli.run('upload', ['upload', file]);
    outcome.fileId = fileIdFrom(uploaded);
    const accessToken = await cli.accessToken();

    const downloaded = await download(config.SMOKE_URL, outcome.fileId, accessToken, config.SMOKE_CONNECT_TO);
    outcome.downloadedSha256 = downloaded.sha256;
    outcome.downloadedFrom = downloaded.from;
    outcome.matched = downloaded.sha256 === outcome.uploadedSha256 && downloaded.bytes === config.SMOKE_BYTES;
    if (!outcome.matched) outcome.error = `download: got ${downloaded.bytes} bytes with another SHA-256 than the ${config.SMOKE_BYTES} uploaded`;
    outcome.ok = outcome.matched;
  } catch (err) {
    outcome.error = (err as Error).message;
  } finally {
    outcome.seconds = (Date.now() - started) / 1000;
    await rm(work, { recursive: true, force: true });
  }
  return outcome;
}

/** Random bytes (incompressible, unlike zeros, so no layer can shortcut them), hashed as they are written. */
async function writeRandomFile(path: string, size: number): Promise<string> {
  const hash = createHash('sha256');
  const out = createWriteStream(path);
  for (let left = size; left > 0; left -= MiB) {
    const chunk = randomBytes(Math.min(MiB, left));
    hash.update(chunk);
    if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  return hash.digest('hex');
}

async function register(server: string, email: string, password: string): Promise<void> {
  const answer = await request('register', `${server}/api/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password, displayName: 'GoVault smoke test' }),
  });
  if (answer.status !== 201) throw new StepFailed('register', `POST /api/auth/register answered ${answer.status}: ${(await answer.text()).slice(0, 300)}`);
  await answer.body?.cancel();
}

/**
 * The govault CLI run as a library (its `run(argv, context)`), with its credentials and
 * resume state in the smoke test's own folder and its `--json` lines captured.
 */
async function cliIn(home: string, server: string) {
  const { run } = await import('@govault/cli/src/main.ts');
  const { CliContext } = await import('@govault/cli/src/context.ts');
  const env = { HOME: home, XDG_CONFIG_HOME: join(home, 'config'), XDG_STATE_HOME: join(home, 'state') };
  const stderr = new PassThrough();
  stderr.on('data', (chunk: Buffer) => process.stderr.write(`smoke: govault: ${chunk}`));
  const contextWith = (stdinText: string, stdout: NodeJS.WritableStream) => new CliContext(env, { stdin: Readable.from([stdinText]), stdout, stderr });
  return {
    async run(step: string, argv: string[], stdinText = ''): Promise<Array<Record<string, unknown>>> {
      const stdout = new PassThrough();
      let printed = '';
      stdout.on('data', (chunk: Buffer) => (printed += chunk.toString('utf8')));
      const code = await run([...argv, '--json', '--server', server], contextWith(stdinText, stdout));
      process.exitCode = undefined; // the CLI's upload sets it for its own process; this one decides its own
      if (code !== 0) throw new StepFailed(step, `govault ${argv[0]} exited with ${code}${lastError(printed)}`);
      return printed.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
    },
    async accessToken(): Promise<string> {
      const saved = await contextWith('', new PassThrough()).credentials.get(server);
      if (!saved?.accessToken) throw new StepFailed('login', 'the CLI saved no access token');
      return saved.accessToken;
    },
  };
}

function lastError(printed: string): string {
  const message = /"event":"error".*"message":"([^"]*)"/.exec(printed)?.[1];
  return message ? `: ${message}` : '';
}

function fileIdFrom(events: Array<Record<string, unknown>>): string {
  const done = events.find((e) => e.event === 'done' && typeof e.fileId === 'string');
  if (!done) throw new StepFailed('upload', 'govault upload reported no finished file');
  return done.fileId as string;
}

/**
 * GET /api/files/:id/content, then the presigned S3 URL its 302 names (embedded storage
 * answers 200 itself). The S3 request carries no Authorization: the URL is the credential.
 */
async function download(server: string, fileId: string, accessToken: string, connectTo: Map<string, string>): Promise<{ sha256: string; bytes: number; from: string }> {
  const path = `/api/files/${encodeURIComponent(fileId)}/content`;
  const first = await request('download', `${server}${path}`, { headers: { authorization: `Bearer ${accessToken}` }, redirect: 'manual' });
  const location = first.headers.get('location');
  if (first.status >= 300 && first.status < 400 && location) {
    await first.body?.cancel();
    const target = new URL(location, server);
    const answer = await getRouted(target, connectTo);
    if (answer.status !== 200) throw new StepFailed('download', `GET ${path} redirected to ${target.origin}, which answered ${answer.status}: ${(await bodyText(answer.body)).slice(0, 300)}`);
    return { ...(await hashOf(answer.body)), from: target.origin };
  }
  if (first.status !== 200 || !first.body) throw new StepFailed('download', `GET ${path} answered ${first.status}: ${(await first.text()).slice(0, 300)}`);
  return { ...(await hashOf(first.body as unknown as AsyncIterable<Uint8Array>)), from: new URL(server).origin };
}

/** GET `url`, sent to the SMOKE_CONNECT_TO address of its host:port when there is one. */
async function getRouted(url: URL, connectTo: Map<string, string>): Promise<{ status: number; body: AsyncIterable<Uint8Array> }> {
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  const via = connectTo.get(`${url.hostname}:${port}`);
  if (!via) {
    const answer = await request('download', url.href, {});
    return { status: answer.status, body: (answer.body ?? []) as unknown as AsyncIterable<Uint8Array> };
  }
  const [host, viaPort] = via.split(':') as [string, string];
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const outgoing = send({ host, port: Number(viaPort), path: url.pathname + url.search, headers: { host: url.host }, servername: url.hostname }, (answer) => resolve({ status: answer.statusCode ?? 0, body: answer }));
    outgoing.on('error', (err: NodeJS.ErrnoException) => reject(new StepFailed('download', `${url.origin} (via ${via}) could not be reached (${err.code ?? err.message})`)));
    outgoing.end();
  });
}

async function hashOf(body: AsyncIterable<Uint8Array>): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of body) {
    hash.update(chunk);
    bytes += chunk.byteLength;
  }
  return { sha256: hash.digest('hex'), bytes };
}

async function bodyText(body: AsyncIterable<Uint8Array>): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** fetch, with "could not connect" turned into a step that names the address. */
async function request(step: string, url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new StepFailed(step, `${url} could not be reached (${cause?.code ?? cause?.message ?? (err as Error).message})`);
  }
}

export async function runSmoke(env: NodeJS.ProcessEnv): Promise<number> {
  const config = parseCommandEnv('smoke', smokeEnvSchema, env);
  if (!config) return BAD_ENVIRONMENT;
  const timedOut = new Promise<SmokeOutcome>((resolve) => {
    const outcome: SmokeOutcome = { command: 'smoke', ok: false, url: config.SMOKE_URL, bytes: config.SMOKE_BYTES, matched: false, seconds: config.SMOKE_TIMEOUT_SECONDS };
    setTimeout(() => resolve({ ...outcome, error: `not done within SMOKE_TIMEOUT_SECONDS=${config.SMOKE_TIMEOUT_SECONDS}` }), config.SMOKE_TIMEOUT_SECONDS * 1000).unref();
  });
  const outcome = await Promise.race([smoke(config), timedOut]);
  process.stdout.write(`${JSON.stringify(outcome)}\n`);
  if (outcome.ok) return 0;
  // A step still waiting (the CLI retrying a dead server) must not keep the job alive past its bound.
  process.stdout.write('', () => process.exit(1));
  return 1;
}
