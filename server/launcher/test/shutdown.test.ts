import test from 'ava';
import { registerAndLogin, startLauncher, uploadInProgress, type Launcher } from './launcher-process.ts';
import { expectNothingLeft, expectStoppedCleanly, snapshot } from './stop-checks.ts';

/**
 * "Ctrl-C stops everything cleanly", and nothing outlives the launcher: each test starts a
 * launcher of its own (embedded PostgreSQL, the four services) and ends it another way.
 * They run one at a time: each checks that its ports are free afterwards, and a launcher
 * of another test starting meanwhile may be given one of them (CI saw it once).
 */
const launchers: Launcher[] = [];
test.after.always(async () => {
  for (const launcher of launchers) await launcher.destroy();
});

async function launch(options: Parameters<typeof startLauncher>[0] = {}): Promise<Launcher> {
  const launcher = await startLauncher(options);
  launchers.push(launcher);
  return launcher;
}

test.serial('SIGINT to the launcher stops every process it started, exits 0 and frees its ports', async (t) => {
  const launcher = await launch();
  const before = snapshot(launcher);
  const from = launcher.lines.length;
  process.kill(launcher.pid, 'SIGINT');
  await expectStoppedCleanly(t, launcher, before, from, 'SIGINT');
});

test.serial('Ctrl-C in a terminal (SIGINT to the whole process group) during an upload stops everything, and nothing is restarted', async (t) => {
  // A shell runs `npm start` as a job in a process group of its own; Ctrl-C signals every member at once.
  const launcher = await launch({ detached: true });
  // The gateway gives the upload in progress up to 10 s to finish; auth, files and the database,
  // signalled too, are done long before, while the launcher still waits for the gateway.
  const upload = await uploadInProgress(launcher.baseUrl, await registerAndLogin(launcher.baseUrl));
  t.teardown(() => upload.end());
  const before = snapshot(launcher);
  const from = launcher.lines.length;
  process.kill(-launcher.pid, 'SIGINT');
  await expectStoppedCleanly(t, launcher, before, from, 'SIGINT');
  t.deepEqual(
    launcher.lines.slice(from).filter((line) => /exited unexpectedly|exited before it was ready/.test(line)),
    [],
    'the children\'s own exits on the signal are not taken for crashes',
  );
});

test.serial('a launcher killed with SIGKILL leaves no process behind: its children stop by themselves', async (t) => {
  const launcher = await launch();
  const before = snapshot(launcher);
  process.kill(launcher.pid, 'SIGKILL');
  t.deepEqual(await launcher.exited, { code: null, signal: 'SIGKILL' });
  // No handler of the launcher runs: each child sees its stdin from the launcher close and stops as on SIGTERM (15 s at most).
  await expectNothingLeft(t, before, 25_000);
});
