import { mkdir, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { sleep } from '../api/retry.ts';

const STALE_MS = 30_000;
const WAIT_MS = 20_000;

/**
 * Runs `work` while holding `path` (a directory made atomically) against other govault
 * processes; a lock older than 30 s is taken to belong to a process that died.
 */
export async function withFileLock<T>(path: string, work: () => Promise<T>): Promise<T> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const giveUpAt = Date.now() + WAIT_MS;
  for (;;) {
    try {
      await mkdir(path);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const held = await stat(path).catch(() => undefined);
      if (held && Date.now() - held.mtimeMs > STALE_MS) await rm(path, { recursive: true, force: true });
      else if (Date.now() > giveUpAt) throw new Error(`another govault process holds ${path}; remove it if none is running`);
      else await sleep(50);
    }
  }
  try {
    return await work();
  } finally {
    await rm(path, { recursive: true, force: true });
  }
}
