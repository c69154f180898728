import type { z } from 'zod';
import { ConfigError, parseConfig } from '../../../lib/src/config.ts';

/**
 * What a one-shot command reads from its environment, parsed by its own schema. Bad
 * variables are all listed on stderr and end the command with 2, as a service's
 * `loadConfigOrExit` does, so an operator sees the same kind of message from every container.
 *
 * (lib's config module is imported by path, not through `@govault/lib`, whose index loads
 * Koa, pino and the AWS SDK: the container's healthcheck runs this dispatcher every few
 * seconds and should start in a fraction of a second.)
 */
export function parseCommandEnv<S extends z.ZodType>(command: string, schema: S, env: NodeJS.ProcessEnv): z.infer<S> | undefined {
  try {
    return parseConfig(schema, env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`govault-image ${command}: ${err.message}\n`);
    return undefined;
  }
}

/** Exit code of a one-shot whose environment is wrong: a usage error. */
export const BAD_ENVIRONMENT = 2;
