import { createLogger } from '@govault/lib';
import { createTusLocker } from '../src/tus/pg-locker.ts';

/**
 * Child process for pg-locker.test.ts: an upload instance that takes the tus lock of one
 * upload and then never lets go (a hung request), until it is killed. It prints `locked`
 * once it holds the lock, and `release requested` each time another request asks for it.
 * Usage: node --import tsx lock-holder.ts DATABASE_URL UPLOAD_ID
 */
const [url, id] = process.argv.slice(2);
if (!url || !id) {
  process.stderr.write('usage: lock-holder.ts DATABASE_URL UPLOAD_ID\n');
  process.exit(2);
}
const locker = await createTusLocker(url, createLogger('lock-holder', 'silent'), { waited: () => undefined });
await locker.locker.newLock(id).lock(new AbortController().signal, () => {
  process.stdout.write('release requested\n');
});
process.stdout.write('locked\n');
setInterval(() => undefined, 60_000);
