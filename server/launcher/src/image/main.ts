import { pathToFileURL } from 'node:url';
import type { z } from 'zod';
import { createBucketEnvSchema, runCreateBucket } from './create-bucket.ts';
import { runHealthcheck } from './healthcheck.ts';
import { keysEnvSchema, runKeys } from './keys.ts';
import { runService, SERVICE_WORDS, type ServiceWord } from './services.ts';
import { runSmoke, smokeEnvSchema } from './smoke.ts';

/**
 * The image's entry point (`ENTRYPOINT ["tini", "--", "node", "--import", "tsx", <this file>]`):
 * the container's one-word command picks what runs, the same words in compose and Helm.
 */
export interface ImageCommand {
  /** What a one-shot reads from its environment (services validate theirs in their own main.ts). */
  schema?: z.ZodType;
  /** A one-shot's exit code, or 'serving' once a service listens (the process then lives on). */
  run(env: NodeJS.ProcessEnv, args: string[]): Promise<number | 'serving'>;
}

const service = (name: ServiceWord): ImageCommand => ({ run: (env) => runService(name, env) });

export const IMAGE_COMMANDS: Record<string, ImageCommand> = {
  ...Object.fromEntries(SERVICE_WORDS.map((name) => [name, service(name)])),
  keys: { schema: keysEnvSchema, run: (env) => runKeys(env) },
  'create-bucket': { schema: createBucketEnvSchema, run: (env) => runCreateBucket(env) },
  smoke: { schema: smokeEnvSchema, run: (env) => runSmoke(env) },
  healthcheck: { run: (env, args) => runHealthcheck(env, args) },
};

export const USAGE = `usage: govault-image <command>
  gateway | auth | upload | files   run that service (its own environment, as server/<service>/src/main.ts reads it)
  keys                              write the internal and signing keys into KEYS_DIR (default /keys); keeps existing keys
  create-bucket                     create S3_BUCKET if missing and set its CORS rule (CORS_ALLOWED_ORIGINS, default *)
  smoke                             register, upload SMOKE_BYTES, download and compare against SMOKE_URL
  healthcheck [URL]                 0 if URL (default: the started service's /healthz) answers 200
`;

/** Exit code of an unknown or missing command word. */
export const USAGE_ERROR = 2;

export async function dispatch(argv: string[], env: NodeJS.ProcessEnv): Promise<number | 'serving'> {
  const [word, ...args] = argv;
  const command = word === undefined ? undefined : IMAGE_COMMANDS[word];
  if (!command || !Object.hasOwn(IMAGE_COMMANDS, word!)) {
    process.stderr.write(`${word === undefined ? 'no command given' : `unknown command: ${word}`}\n${USAGE}`);
    return USAGE_ERROR;
  }
  return command.run(env, args);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const outcome = await dispatch(process.argv.slice(2), process.env);
  if (outcome !== 'serving') {
    // Set, not process.exit(): stdout of a one-shot (its JSON outcome) is flushed first.
    process.exitCode = outcome;
  }
}
