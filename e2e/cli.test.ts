import { existsSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import {
  cliStackPerMode,
  cliUser,
  contentSha256,
  jsonLines,
  kill,
  MiB,
  ownedFiles,
  scratch,
  sha256OfFile,
  unfinishedUploads,
  waitFor,
  writeRandomFile,
  type CliStack,
  type CliUser,
} from './cli-harness.ts';
import { availableModes, type Mode } from './system.ts';

/**
 * The govault CLI against the real processes, as a user runs it: a child process with no
 * terminal, config and state folders of its own, talking to GoVault through a relay that
 * counts every byte (and, in real mode, to S3 through another for the presigned URLs).
 */
const { stackFor, stopAll } = cliStackPerMode();
test.after.always(stopAll);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** The CLI's default --chunk-size: a tus PATCH, or a direct part. */
const CHUNK = 8 * MiB;
/** What a kill-and-resume test uploads: two files, one in a subfolder, three chunks each. */
const KILLED_FILES = ['a.bin', 'sub/b.bin'];
const KILLED_SIZE = 3 * CHUNK;
/**
 * Requests, not bodies: both runs' logins, OPTIONS, creations, HEADs or part lists, part
 * signing and every PATCH or PUT's headers (a bearer token, or a presigned query string).
 */
const HEADER_ALLOWANCE = 64 * 1024;

/** The tus Upload-Metadata of an unfinished upload, decoded, as a HEAD on it answers. */
async function tusMetadata(stack: CliStack, user: CliUser, id: string): Promise<Record<string, string>> {
  const head = await fetch(`${stack.baseUrl}/api/uploads/tus/${id}`, { method: 'HEAD', headers: { ...user.auth, 'tus-resumable': '1.0.0' } });
  if (head.status !== 200) throw new Error(`HEAD answered ${head.status}`);
  const pairs = (head.headers.get('upload-metadata') ?? '').split(',').map((pair) => pair.trim().split(' '));
  return Object.fromEntries(pairs.map(([key, value]) => [key!, Buffer.from(value ?? '', 'base64').toString('utf8')]));
}

/**
 * Starts `govault upload DIR --recursive --json [--direct]` over a slowed link and SIGKILLs
 * it once the server holds at least a chunk of every file (none whole) and about half a
 * chunk more per file is on the wire: the kill cuts a PATCH or a part PUT in the middle.
 */
async function uploadAndKill(stack: CliStack, user: CliUser, dir: string, args: string[], size: number) {
  // Real mode, direct: the bytes go to S3 through its relay; everything else crosses the gateway's.
  const link = stack.s3 && args.includes('--direct') ? stack.s3 : stack.gateway;
  const from = link.up.bytes;
  link.up.rate = 8 * MiB;
  try {
    const first = user.start(['upload', dir, '--recursive', '--json', ...args]);
    const held = await waitFor(
      'every file to hold a chunk on the server and half a chunk more of each on the wire',
      async () => {
        const uploads = await unfinishedUploads(stack, user);
        const stored = uploads.reduce((sum, u) => sum + u.offset, 0);
        const inFlight = link.up.bytes - from - stored;
        const ready = uploads.length === KILLED_FILES.length && uploads.every((u) => u.offset >= CHUNK && u.offset < size) && inFlight >= (KILLED_FILES.length * CHUNK) / 2;
        return ready && uploads;
      },
      60_000,
      50,
    ).catch(async (err) => {
      const gone = await kill(first);
      throw new Error(`${(err as Error).message}; the CLI said: ${gone.stdout.slice(-2000)} ${gone.stderr}`);
    });
    const killed = await kill(first);
    return { held, killed };
  } finally {
    link.up.rate = Number.POSITIVE_INFINITY;
  }
}

/**
 * Kill, resume, and count: the bytes that crossed the link carrying the file bodies in
 * both runs, minus the files' sizes, are what was sent twice.
 */
async function killAndResume(t: ExecutionContext, mode: Mode, direct: boolean) {
  const stack = await stackFor(mode);
  const user = await cliUser(stack, direct ? 'kill-direct' : 'kill-tus');
  const dir = join(user.home, 'footage');
  const shas = new Map(KILLED_FILES.map((relative) => [relative, writeRandomFile(join(dir, relative), KILLED_SIZE)]));
  const args = direct ? ['--direct'] : [];
  const bodies = stack.s3 && direct ? stack.s3 : stack.gateway;
  const before = bodies.up.bytes;
  const gatewayBefore = stack.gateway.up.bytes;

  const { held, killed } = await uploadAndKill(stack, user, dir, args, KILLED_SIZE);
  t.is(killed.signal, 'SIGKILL');
  t.false(jsonLines(killed.stdout).some((e) => e.event === 'done'), 'no file finished before the kill');
  t.true(held.every((u) => u.mode === (direct ? 'direct' : 'tus')));
  if (!direct) {
    // relativePath is not part of a file; an unfinished tus upload shows its metadata.
    const paths = await Promise.all(held.map(async (u) => (await tusMetadata(stack, user, u.id)).relativePath));
    t.deepEqual(paths.sort(), KILLED_FILES.map((relative) => join('footage', relative)).sort(), 'relativePath is sent below the named folder');
  }

  const second = await user.run(['upload', dir, '--recursive', '--json', ...args]);
  t.is(second.code, 0, second.stderr);
  const events = jsonLines(second.stdout);
  const done = events.filter((e) => e.event === 'done');
  t.is(done.length, KILLED_FILES.length);
  for (const event of done) t.like(event, { resumed: true, bytes: KILLED_SIZE }, `${String(event.path)} resumed`);
  const starts = events.filter((e) => e.event === 'start') as Array<{ offset: number; mode: string }>;
  t.true(starts.every((s) => s.offset >= CHUNK && s.mode === (direct ? 'direct' : 'tus')), 'the second run starts where the server stands');

  const resent = bodies.up.bytes - before - KILLED_FILES.length * KILLED_SIZE;
  t.log(`${mode}${direct ? ' direct' : ' tus'}: ${resent} bytes sent twice in all (${(resent / KILLED_FILES.length / MiB).toFixed(2)} MiB per file; a chunk is ${CHUNK / MiB} MiB)`);
  t.true(resent >= 0, 'every byte of the files crossed the counted link');
  t.true(resent <= KILLED_FILES.length * CHUNK + HEADER_ALLOWANCE, `at most one chunk per file sent again, not ${resent} bytes`);
  if (stack.s3 && direct) t.true(stack.gateway.up.bytes - gatewayBefore < MiB, 'the parts went to S3, not through the gateway');

  const files = await ownedFiles(stack, user);
  t.deepEqual(files.map((f) => f.name).sort(), ['a.bin', 'b.bin'], 'each file listed exactly once');
  for (const file of files) {
    const relative = KILLED_FILES.find((r) => r.endsWith(file.name)) ?? file.name;
    t.is(await contentSha256(stack, user, file.id), shas.get(relative) ?? `no such file ${relative}`, `${file.name} intact`);
  }
  t.deepEqual(await unfinishedUploads(stack, user), [], 'no unfinished upload left');
  user.cleanup();
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A new file's content, same size, and an mtime that moved: no longer "the same" file. */
function rewrite(path: string, size: number): string {
  const sha = writeRandomFile(path, size);
  const later = new Date(Date.now() + 5_000);
  utimesSync(path, later, later);
  return sha;
}

/** A file changed between two runs starts over; its stale upload is terminated, the unchanged one resumes. */
async function changedBetweenRuns(t: ExecutionContext, mode: Mode, direct: boolean) {
  const stack = await stackFor(mode);
  const user = await cliUser(stack, direct ? 'changed-direct' : 'changed-tus');
  const dir = join(user.home, 'drafts');
  const shas = new Map(KILLED_FILES.map((relative) => [relative, writeRandomFile(join(dir, relative), KILLED_SIZE)]));
  const args = direct ? ['--direct'] : [];
  const { held } = await uploadAndKill(stack, user, dir, args, KILLED_SIZE);
  const stale = held.find((u) => u.name === 'a.bin')!;
  t.truthy(stale, 'a.bin was unfinished when the CLI was killed');
  shas.set('a.bin', rewrite(join(dir, 'a.bin'), KILLED_SIZE));

  const second = await user.run(['upload', dir, '--recursive', '--json', ...args]);
  t.is(second.code, 0, second.stderr);
  const events = jsonLines(second.stdout);
  const of = (event: string, name: string) => events.find((e) => e.event === event && String(e.path).endsWith(name));
  t.like(of('start', 'a.bin'), { resumed: false, offset: 0 }, 'the changed file starts from zero');
  t.like(of('done', 'a.bin'), { resumed: false, bytes: KILLED_SIZE, sent: KILLED_SIZE });
  t.like(of('done', 'b.bin'), { resumed: true, bytes: KILLED_SIZE }, 'the unchanged file still resumes');

  const unfinished = await unfinishedUploads(stack, user);
  t.false(unfinished.some((u) => u.id === stale.id), 'the stale upload is terminated');
  t.deepEqual(unfinished, [], 'no unfinished upload left');
  if (!direct) {
    const head = await fetch(`${stack.baseUrl}/api/uploads/tus/${stale.id}`, { method: 'HEAD', headers: { ...user.auth, 'tus-resumable': '1.0.0' } });
    t.true([404, 410].includes(head.status), `HEAD on the stale upload answers ${head.status}`);
  }
  const files = await ownedFiles(stack, user);
  t.deepEqual(files.map((f) => f.name).sort(), ['a.bin', 'b.bin'], 'each file listed exactly once');
  for (const file of files) {
    const relative = KILLED_FILES.find((r) => r.endsWith(file.name)) ?? file.name;
    t.is(await contentSha256(stack, user, file.id), shas.get(relative) ?? `no such file ${relative}`, `${file.name} has the bytes on disk now`);
  }
  user.cleanup();
}

for (const mode of availableModes()) {
  test.serial(`${mode}: upload --recursive --parallel 4 of mixed files: each listed by its basename and size, each download identical`, async (t) => {
    const stack = await stackFor(mode);
    const user = await cliUser(stack, 'mixed');
    const dir = join(user.home, 'photos');
    const files: Record<string, { size: number; sha: string }> = {};
    for (const [relative, size] of [
      ['empty.txt', 0],
      ['one-byte.bin', 1],
      ['notes.md', 3 * 1024 + 5],
      ['café ü 東京.txt', 70_001],
      ['big.bin', 60 * MiB],
      ['nested/deeper/inner.bin', 5 * MiB + 3],
    ] as const) {
      files[relative] = { size, sha: writeRandomFile(join(dir, relative), size) };
    }

    const upload = await user.run(['upload', dir, '--recursive', '--parallel', '4', '--json']);
    t.is(upload.code, 0, upload.stderr);
    t.is(jsonLines(upload.stdout).filter((e) => e.event === 'done').length, 6);

    const listed = jsonLines((await user.run(['ls', '--json'])).stdout) as Array<{ id: string; name: string; size: number }>;
    t.is(listed.length, 6, 'every file listed once');
    const out = scratch('mixed-out');
    for (const [relative, { size, sha }] of Object.entries(files)) {
      const name = relative.split('/').pop()!;
      const file = listed.find((f) => f.name === name);
      t.truthy(file, `${name} is listed by its basename`);
      if (!file) continue;
      t.regex(file.id, UUID);
      t.is(file.size, size, `${name} has its size`);
      const got = await user.run(['download', file.id, '-o', out, '--json']);
      t.is(got.code, 0, `download ${name}: ${got.stderr}`);
      t.is(await sha256OfFile(join(out, name)), sha, `${name} downloads identical`);
    }
    t.deepEqual(readdirSync(out).sort(), Object.keys(files).map((r) => r.split('/').pop()!).sort(), 'the files and nothing else: no .part left');
    t.deepEqual(await unfinishedUploads(stack, user), []);
    user.cleanup();
  });

  test.serial(`${mode}: upload SIGKILLed mid-way and run again resumes (tus): at most one chunk per file sent twice, each file listed once`, (t) =>
    killAndResume(t, mode, false),
  );
  test.serial(
    `${mode}: upload --direct SIGKILLed mid-way and run again sends only the parts not stored (${mode === 'real' ? 'counted at the S3 relay' : 'through the gateway'})`,
    (t) => killAndResume(t, mode, true),
  );
  for (const direct of [false, true]) {
    test.serial(`${mode}: a file rewritten between runs (same size, new mtime) is uploaded from zero${direct ? ' (--direct)' : ''}, its stale upload terminated`, (t) =>
      changedBetweenRuns(t, mode, direct),
    );
  }

  test.serial(`${mode}: download killed mid-body continues PATH.part with Range, checks the SHA-256 and renames it`, async (t) => {
    const stack = await stackFor(mode);
    const user = await cliUser(stack, 'download');
    const size = 32 * MiB + 11;
    const source = join(user.home, 'movie.bin');
    const sha = writeRandomFile(source, size);
    const up = await user.run(['upload', source, '--json']);
    t.is(up.code, 0, up.stderr);
    const fileId = String(jsonLines(up.stdout).find((e) => e.event === 'done')?.fileId);
    const out = scratch('download-out');
    const target = join(out, 'movie.bin');
    const partial = `${target}.part`;

    // In real mode the content answer is a redirect to S3: the body comes through the S3 relay.
    const link = stack.s3 ?? stack.gateway;
    link.down.rate = 4 * MiB;
    try {
      const first = user.start(['download', fileId, '-o', out, '--json']);
      await waitFor('PATH.part to hold 4 MiB', () => (statSync(partial, { throwIfNoEntry: false })?.size ?? 0) >= 4 * MiB, 30_000, 20).catch(async (err) => {
        throw new Error(`${(err as Error).message}; the CLI said: ${(await kill(first)).stderr}`);
      });
      await kill(first);
    } finally {
      link.down.rate = Number.POSITIVE_INFINITY;
    }
    const kept = statSync(partial).size;
    t.true(kept > 0 && kept < size, `the killed download left ${kept} of ${size} bytes`);
    t.false(existsSync(target), 'no PATH before the download is whole');

    const before = link.down.bytes;
    const second = await user.run(['download', fileId, '-o', out, '--json']);
    t.is(second.code, 0, second.stderr);
    const events = jsonLines(second.stdout);
    t.like(events.find((e) => e.event === 'start'), { resumed: true, offset: kept });
    const done = events.find((e) => e.event === 'done') as { resumed: boolean; sent: number; bytes: number } | undefined;
    t.like(done, { resumed: true, bytes: size, sent: size - kept });
    const received = link.down.bytes - before;
    t.log(`${mode}: ${kept} bytes kept from the killed run; the second run received ${received} bytes for the ${size - kept} missing`);
    t.true(received < size - kept + 64 * 1024, `only the missing bytes came again (Range), not ${received}`);
    t.is(await sha256OfFile(target), sha, 'the file is whole and identical');
    t.false(existsSync(partial), 'PATH.part renamed to PATH');

    // A PATH.part left by anyone continues too; one that does not hold the file's bytes is refused, not renamed.
    const whole = readFileSync(source);
    const again = join(scratch('download-again'), 'movie.bin');
    writeFileSync(`${again}.part`, whole.subarray(0, MiB + 7));
    const continued = await user.run(['download', fileId, '-o', again, '--json']);
    t.is(continued.code, 0, continued.stderr);
    t.like(jsonLines(continued.stdout).find((e) => e.event === 'done'), { resumed: true, sent: size - MiB - 7 });
    t.is(await sha256OfFile(again), sha);

    const wrong = join(scratch('download-wrong'), 'movie.bin');
    writeFileSync(`${wrong}.part`, Buffer.alloc(MiB, 0x5a));
    const refused = await user.run(['download', fileId, '-o', wrong]);
    t.is(refused.code, 1);
    t.regex(refused.stderr, /SHA-256/, 'says the bytes do not match');
    t.false(existsSync(wrong), 'a download that does not match is not renamed into place');
    t.false(existsSync(`${wrong}.part`), 'and its partial is removed, so the next run starts clean');
    user.cleanup();
  });

  test.serial(`${mode}: without a terminal progress is plain lines with no \\r; with --json every stdout line is an event with its documented fields`, async (t) => {
    const stack = await stackFor(mode);
    const user = await cliUser(stack, 'output');
    const plainDir = join(user.home, 'plain');
    writeRandomFile(join(plainDir, 'one.bin'), 6 * MiB);
    writeRandomFile(join(plainDir, 'two.txt'), 10);
    const plain = await user.run(['upload', plainDir, '--recursive', '--chunk-size', '1MiB']);
    t.is(plain.code, 0, plain.stderr);
    t.false(plain.stdout.includes('\r') || plain.stderr.includes('\r'), 'no carriage return anywhere');
    const one = escapeRegExp(join(plainDir, 'one.bin'));
    t.regex(plain.stdout, new RegExp(`^starting ${one} \\(6\\.0 MiB\\)$`, 'm'));
    t.regex(plain.stdout, new RegExp(`^${one}: \\d0% \\(`, 'm'), 'progress as lines');
    t.regex(plain.stdout, new RegExp(`^done ${one} -> ${UUID.source.slice(1, -1)}`, 'm'));
    t.regex(plain.stdout, /^2 of 2 files done/m, 'a summary line');

    const jsonDir = join(user.home, 'scripted');
    const sizes: Record<string, number> = { 'x.bin': 3 * MiB + 1, 'y.txt': 0 };
    for (const [name, size] of Object.entries(sizes)) writeRandomFile(join(jsonDir, name), size);
    const scripted = await user.run(['upload', jsonDir, '--recursive', '--json', '--chunk-size', '1MiB']);
    t.is(scripted.code, 0, scripted.stderr);
    t.false(scripted.stdout.includes('\r'));
    const events = jsonLines(scripted.stdout);
    t.true(events.length > 0);
    for (const event of events) {
      t.true(['start', 'progress', 'done', 'error', 'summary'].includes(String(event.event)), `event ${String(event.event)}`);
      t.is(typeof event.path, 'string', `a ${String(event.event)} event carries its path`);
    }
    for (const name of Object.keys(sizes)) {
      const done = events.find((e) => e.event === 'done' && e.path === join(jsonDir, name));
      t.truthy(done, `a done event for scripted/${name}`);
      t.regex(String(done?.fileId), UUID);
      t.is(done?.bytes, sizes[name]);
      t.is(done?.resumed, false);
    }
    t.true(events.some((e) => e.event === 'progress' && typeof e.bytes === 'number' && e.size === sizes['x.bin']), 'progress carries bytes and size');
    t.like(events.at(-1), { event: 'summary', path: jsonDir, files: 2, done: 2, failed: 0 });

    const id = String(events.find((e) => e.event === 'done' && e.path === join(jsonDir, 'x.bin'))?.fileId);
    const out = scratch('output-out');
    const got = await user.run(['download', id, '-o', out, '--json']);
    t.is(got.code, 0, got.stderr);
    for (const event of jsonLines(got.stdout)) t.is(typeof event.path, 'string', `download ${String(event.event)} carries its path`);
    t.like(jsonLines(got.stdout).at(-1), { event: 'done', fileId: id, bytes: sizes['x.bin'], resumed: false });
    const quiet = await user.run(['download', id, '-o', join(out, 'again.bin')]);
    t.is(quiet.code, 0, quiet.stderr);
    t.false(quiet.stdout.includes('\r') || quiet.stderr.includes('\r'), 'a plain download has no carriage return either');
    user.cleanup();
  });
}
