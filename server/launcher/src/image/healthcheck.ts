import { readFileSync } from 'node:fs';

/**
 * Where the dispatcher notes the /healthz URL of the service it started, for the image's
 * HEALTHCHECK (and compose's). One service per container, so one fixed path; the variable
 * moves it for native runs where several "containers" share one /tmp.
 */
export const HEALTHZ_URL_FILE_VARIABLE = 'GOVAULT_HEALTHZ_URL_FILE';
export const DEFAULT_HEALTHZ_URL_FILE = '/tmp/govault-healthz-url';

export const healthzUrlFile = (env: NodeJS.ProcessEnv) => env[HEALTHZ_URL_FILE_VARIABLE] || DEFAULT_HEALTHZ_URL_FILE;

/** Docker kills a healthcheck at its own timeout (30 s by default); answer well before that. */
const ANSWER_WITHIN_MS = 5_000;

/**
 * `healthcheck [URL]`: 0 when URL (or the one the dispatcher wrote when it started a
 * service) answers 200. No URL and no file means a one-shot job, which has nothing to
 * probe: healthy.
 */
export async function runHealthcheck(env: NodeJS.ProcessEnv, args: string[]): Promise<number> {
  const url = args[0] ?? readNotedUrl(healthzUrlFile(env));
  if (url === undefined) return 0;
  try {
    const answer = await fetch(url, { signal: AbortSignal.timeout(ANSWER_WITHIN_MS), redirect: 'manual' });
    await answer.body?.cancel();
    if (answer.status === 200) return 0;
    process.stderr.write(`healthcheck: ${url} answered ${answer.status}\n`);
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    process.stderr.write(`healthcheck: ${url} did not answer (${cause})\n`);
  }
  return 1;
}

function readNotedUrl(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
