import { z } from 'zod';
import { BAD_ENVIRONMENT, parseCommandEnv } from './command-env.ts';

export const smokeEnvSchema = z.object({
  SMOKE_URL: z.url(),
});

export async function runSmoke(env: NodeJS.ProcessEnv): Promise<number> {
  const config = parseCommandEnv('smoke', smokeEnvSchema, env);
  if (!config) return BAD_ENVIRONMENT;
  return 1;
}
