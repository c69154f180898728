import { fstatSync } from 'node:fs';

/**
 * Loaded (`--import`) into every child the launcher starts. The launcher holds the other
 * end of the child's stdin and never writes to it, so end-of-file there means the
 * launcher is gone, even SIGKILLed, when no handler of its own can run. The child then
 * stops as on SIGTERM, through its own graceful shutdown, instead of running on as an
 * orphan that holds its port and the database.
 */
const stdin = fstatSync(0);
if (stdin.isSocket() || stdin.isFIFO()) {
  process.stdin.once('end', launcherGone).once('error', launcherGone).resume();
  // Watching the pipe must not keep a child alive that would otherwise exit.
  process.stdin.unref();
}

function launcherGone(): void {
  // Nobody reads this process's output any more. pino's last flush at exit would retry
  // the write to the dead pipe forever (sonic-boom 4's flushSync loops on EPIPE), so once
  // the shutdown is done the process ends without it; and a shutdown that waits on
  // something that never comes does not keep it either.
  process.prependOnceListener('exit', () => process.kill(process.pid, 'SIGKILL'));
  setTimeout(() => process.kill(process.pid, 'SIGKILL'), 15_000).unref();
  process.kill(process.pid, 'SIGTERM');
}
