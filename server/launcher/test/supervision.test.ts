import test from 'ava';
import { alive, occupyPort, ready, registerAndLogin, startLauncher, uploadThroughGateway, type Launcher } from './launcher-process.ts';
import { expectStoppedCleanly, snapshot } from './stop-checks.ts';

/**
 * The README's promise about `npm start`, against the real launcher: a service that dies
 * is restarted (at once when it was serving, with a doubling backoff when it never got
 * ready), and SIGTERM stops everything. One launcher for the whole file, in this order.
 */
let launcher: Launcher;
let user: { authorization: string };

test.before(async () => {
  launcher = await startLauncher();
  user = await registerAndLogin(launcher.baseUrl);
});
test.after.always(async () => {
  await launcher?.destroy();
});

const uploadReadyz = () => ready(`http://127.0.0.1:${launcher.ports.upload}/readyz`);
const latestPid = (name: string) => launcher.startedPids(name).at(-1)!;
/** The launcher's word that the upload child `pid` serves (its probe saw /readyz answer). */
const uploadReady = (pid: number, from: number) => launcher.nextLine(new RegExp(`^launcher\\| upload ready \\(pid ${pid}\\)$`), from);
const EARLY_EXIT = /^launcher\| upload exited before it was ready \((.+), (\d+) in a row\); restarting in (\d+) ms$/;

test.serial('a service killed while serving is restarted at once, on its port, and the gateway serves through it again', async (t) => {
  const oldPid = latestPid('upload');
  const from = launcher.lines.length;
  process.kill(oldPid, 'SIGKILL');

  const exit = await launcher.nextLine(/^launcher\| upload exited (.+)$/, from);
  t.is(exit.match[1], 'unexpectedly (SIGKILL); restarting now', 'a child that was serving is not made to wait');
  const started = await launcher.nextLine(/^launcher\| upload started \(pid (\d+)\)$/, exit.index);
  // The launcher's very next line is the new child: no backoff notice, nothing waited for in between.
  t.is(launcher.ownLines(exit.index + 1)[0]?.text, `upload started (pid ${started.match[1]})`);
  const newPid = Number(started.match[1]);
  t.not(newPid, oldPid);
  t.false(alive(oldPid));

  await uploadReady(newPid, started.index);
  t.true(await uploadReadyz(), 'upload answers /readyz on the same port again');
  t.true(alive(newPid));
  const upload = await uploadThroughGateway(launcher.baseUrl, user, 'after-restart.txt');
  t.is(upload.status, 201);
  t.truthy(upload.fileId, 'the completing answer carries GoVault-File-Id');
  t.true(upload.listed, 'the file is in the owner\'s list');
  t.is(launcher.startedPids('upload').length, 2, 'one restart, no more');
});

test.serial('a child that exits before it is ready is restarted after 500, 1000, 2000 ms; once it served, the wait starts over', async (t) => {
  // After a kill, the test takes the upload port: each new upload child fails to listen and exits.
  const from = launcher.lines.length;
  process.kill(latestPid('upload'), 'SIGKILL');
  const restart = await launcher.nextLine(/^launcher\| upload exited (.+)$/, from);
  t.is(restart.match[1], 'unexpectedly (SIGKILL); restarting now');
  let blocker = await occupyPort(launcher.ports.upload);

  const early: Array<{ how: string; inARow: number; delay: number }> = [];
  let at = restart.index + 1;
  while (early.length < 3) {
    const line = await launcher.nextLine(EARLY_EXIT, at);
    early.push({ how: line.match[1]!, inARow: Number(line.match[2]), delay: Number(line.match[3]) });
    at = line.index + 1;
  }
  await new Promise((resolve) => blocker.close(resolve));
  t.deepEqual(
    early.map(({ inARow, delay }) => [inARow, delay]),
    [
      [1, 500],
      [2, 1000],
      [3, 2000],
    ],
  );
  t.true(
    early.every(({ how }) => /^code [1-9]\d*$/.test(how)),
    `each child exited by itself: ${early.map((e) => e.how).join(', ')}`,
  );
  t.true(
    launcher.lines.slice(from).some((line) => /^upload\s*\|.*EADDRINUSE/.test(line)),
    'the children exited because the port was taken',
  );

  // The port is free again: the next child comes up and stays.
  const serving = await launcher.nextLine(/^launcher\| upload ready \(pid (\d+)\)$/, at);
  t.is(Number(serving.match[1]), latestPid('upload'));
  t.true(await uploadReadyz(), 'upload answers /readyz once the port is free');
  const starts = launcher.lines.slice(from).filter((line) => /^launcher\| upload started /.test(line));
  t.is(starts.length, 4, 'started: at once after the kill, then once after each of the 3 waits');
  t.false(launcher.lines.slice(at).some((line) => EARLY_EXIT.test(line)), 'no early exit once the port is free');

  // It became ready, so the count starts over: a kill restarts it now, and an early exit waits 500 ms again.
  const from2 = launcher.lines.length;
  process.kill(latestPid('upload'), 'SIGKILL');
  const again = await launcher.nextLine(/^launcher\| upload exited (.+)$/, from2);
  t.is(again.match[1], 'unexpectedly (SIGKILL); restarting now');
  blocker = await occupyPort(launcher.ports.upload);
  const firstAgain = await launcher.nextLine(EARLY_EXIT, again.index + 1);
  await new Promise((resolve) => blocker.close(resolve));
  t.deepEqual([Number(firstAgain.match[2]), Number(firstAgain.match[3])], [1, 500]);
  await launcher.nextLine(/^launcher\| upload ready \(pid \d+\)$/, firstAgain.index);
  t.true(await uploadReadyz());
});

test.serial('SIGTERM stops every process the launcher started, exits 0 and frees its ports', async (t) => {
  const before = snapshot(launcher);
  const from = launcher.lines.length;
  process.kill(launcher.pid, 'SIGTERM');
  await expectStoppedCleanly(t, launcher, before, from, 'SIGTERM');
});
