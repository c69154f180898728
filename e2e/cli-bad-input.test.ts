import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { postJson } from './client.ts';
import { relay } from './cli-relay.ts';
import { cliEnv, cliStackPerMode, cliUser, MiB, ownedFiles, runCli, scratch, unfinishedUploads, writeRandomFile, type CliStack, type CliUser } from './cli-harness.ts';
import { availableModes } from './system.ts';

/**
 * What the govault CLI does with bad input and a server that says no: a message on
 * stderr that says what to do, the documented exit code (0 done, 1 failed, 2 usage,
 * 3 not signed in or refused credentials, 4 some files failed), and nothing left
 * half-registered on the server. This file's system takes files up to 1 MiB and tus
 * metadata up to 512 bytes, so that a too-large file and a per-file refusal are real.
 */
const MAX_UPLOAD_SIZE = MiB;
const MAX_METADATA_BYTES = 512;
const { stackFor, stopAll } = cliStackPerMode({ MAX_UPLOAD_SIZE: String(MAX_UPLOAD_SIZE), MAX_METADATA_BYTES: String(MAX_METADATA_BYTES) });
test.after.always(stopAll);

/** Nothing on the server changed for `user`: no new file, no unfinished upload. */
async function nothingCreated(t: ExecutionContext, stack: CliStack, user: CliUser, files: string[] = []) {
  t.deepEqual((await ownedFiles(stack, user)).map((f) => f.name).sort(), files, 'no new file is listed');
  t.deepEqual(await unfinishedUploads(stack, user), [], 'no unfinished upload is left');
}

for (const mode of availableModes()) {
  test.serial(`${mode}: usage errors exit 2 with a message: unknown command, unknown flag, no PATH, a PATH that is not there`, async (t) => {
    const stack = await stackFor(mode);
    const user = await cliUser(stack, 'usage');
    const file = join(user.home, 'a.txt');
    writeRandomFile(file, 100);
    const cases: Array<[string[], RegExp]> = [
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['upload', '--frobnicate', file], /unknown option '--frobnicate'/],
      [['upload'], /missing required argument 'path'/],
      [['upload', join(user.home, 'not-there.txt')], /not-there\.txt: no such file or directory/],
      [['upload', user.home], /is a directory; add --recursive/],
      [['upload', file, '--parallel', 'many'], /--parallel.*whole number/],
      [['download', 'not-an-id'], /not a file id/],
    ];
    for (const [args, said] of cases) {
      const run = await user.run(args);
      t.is(run.code, 2, `govault ${args.join(' ')}: ${run.stderr}`);
      t.regex(run.stderr, said, `govault ${args.join(' ')} says why`);
      t.is(run.stdout, '', 'stdout stays empty');
    }
    await nothingCreated(t, stack, user);
    user.cleanup();
  });

  test.serial(`${mode}: a wrong password, no login and a revoked login exit 3 and say to log in`, async (t) => {
    const stack = await stackFor(mode);
    const user = await cliUser(stack, 'signin');
    const file = join(user.home, 'a.txt');
    writeRandomFile(file, 100);

    const stranger = scratch('stranger');
    const env = cliEnv(stranger, stack.gateway.url);
    const wrong = await runCli(['login', '--email', user.email, '--password-stdin'], env, 'not-the-password\n');
    t.is(wrong.code, 3, wrong.stderr);
    t.regex(wrong.stderr, /Wrong email or password/);
    t.false(existsSync(join(stranger, 'config', 'govault', 'credentials.json')), 'nothing is saved for a refused login');
    for (const args of [['upload', file], ['ls'], ['whoami']]) {
      const run = await runCli(args, env);
      t.is(run.code, 3, `not signed in: govault ${args.join(' ')}: ${run.stderr}`);
      t.regex(run.stderr, /Not signed in to http:\/\/127\.0\.0\.1:\d+\. Run `govault login/);
    }

    // Logged out everywhere (logout revokes every refresh token); once the access token the CLI kept has lapsed, the server refuses it.
    const login = await postJson(`${stack.baseUrl}/api/auth/login`, { email: user.email, password: user.password });
    const logout = await fetch(`${stack.baseUrl}/api/auth/logout`, {
      method: 'POST',
      headers: { authorization: `Bearer ${(login.body as { accessToken: string }).accessToken}` },
    });
    t.true(logout.ok, `logout answered ${logout.status}`);
    const saved = join(user.home, 'config', 'govault', 'credentials.json');
    const credentials = JSON.parse(readFileSync(saved, 'utf8'));
    for (const server of Object.values(credentials.servers) as Array<{ accessTokenExpiresAt: number }>) server.accessTokenExpiresAt = 0;
    writeFileSync(saved, JSON.stringify(credentials));
    const revoked = await user.run(['upload', file]);
    t.is(revoked.code, 3, revoked.stderr);
    t.regex(revoked.stderr, /Not signed in.*govault login/);

    const fresh = await postJson(`${stack.baseUrl}/api/auth/login`, { email: user.email, password: user.password });
    await nothingCreated(t, stack, { ...user, auth: { Authorization: `Bearer ${(fresh.body as { accessToken: string }).accessToken}` } });
    rmSync(stranger, { recursive: true, force: true });
    user.cleanup();
  });

  test.serial(`${mode}: a server that is down exits 1 after bounded retries (--retries 1), saying it cannot be reached`, async (t) => {
    const stack = await stackFor(mode);
    const user = await cliUser(stack, 'down');
    const file = join(user.home, 'a.txt');
    writeRandomFile(file, 1000);
    // A second way in, signed in to, then gone: connections to it are refused.
    const door = await relay({ port: stack.system.ports.gateway });
    const env = { ...user.env, GOVAULT_SERVER: door.url };
    const login = await runCli(['login', '--email', user.email, '--password-stdin'], env, user.password);
    t.is(login.code, 0, login.stderr);
    await door.close();
    for (const args of [['upload', file], ['ls'], ['download', '0f8c2d1e-4b7a-4c2e-9a51-3d6f0e9b2c47']]) {
      const run = await runCli(['--retries', '1', ...args], env);
      t.is(run.code, 1, `govault ${args[0]}: ${run.stderr}`);
      t.regex(run.stderr, new RegExp(`Cannot reach the GoVault server at ${door.url} \\(ECONNREFUSED\\)`));
      t.true(run.ms < 10_000, `gave up after ${run.ms} ms`);
    }
    await nothingCreated(t, stack, user);
    user.cleanup();
  });

  test.serial(`${mode}: a file over the server's maximum size is refused before any byte is sent (exit 1), tus and --direct`, async (t) => {
    const stack = await stackFor(mode);
    const user = await cliUser(stack, 'too-large');
    const dir = join(user.home, 'mixed');
    writeRandomFile(join(dir, 'small.txt'), 1000);
    writeRandomFile(join(dir, 'huge.bin'), 2 * MiB);
    for (const args of [[], ['--direct']]) {
      const before = stack.gateway.up.bytes + (stack.s3?.up.bytes ?? 0);
      const run = await user.run(['upload', dir, '--recursive', ...args]);
      t.is(run.code, 1, run.stderr);
      t.regex(run.stderr, /huge\.bin: larger than this server's maximum file size of 1\.0 MiB; nothing was uploaded/);
      const sent = stack.gateway.up.bytes + (stack.s3?.up.bytes ?? 0) - before;
      t.true(sent < 16 * 1024, `only requests, no file bytes, were sent (${sent} bytes)`);
    }
    await nothingCreated(t, stack, user);
    user.cleanup();
  });

  test.serial(`${mode}: one good file and one the server refuses: exit 4, the good one uploaded, the other named on stderr and not left behind`, async (t) => {
    const stack = await stackFor(mode);
    const user = await cliUser(stack, 'partial');
    const dir = join(user.home, 'batch');
    // Its name alone makes the tus Upload-Metadata longer than this server takes.
    const longName = `${'l'.repeat(200)}.txt`;
    writeRandomFile(join(dir, 'good.txt'), 1000);
    writeRandomFile(join(dir, longName), 1000);
    const run = await user.run(['upload', dir, '--recursive']);
    t.is(run.code, 4, run.stderr);
    t.regex(run.stderr, new RegExp(`^error ${dir}/${longName}: the server answered 413: Upload-Metadata is larger than ${MAX_METADATA_BYTES} bytes$`, 'm'), 'the failed file is named, with what the server said');
    t.regex(run.stdout, /^1 of 2 files done.*1 failed$/m);
    t.false(run.stdout.includes(longName), 'the failed file is not reported done');
    await nothingCreated(t, stack, user, ['good.txt']);
    user.cleanup();
  });
}
