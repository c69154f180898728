import type { z } from 'zod';
import { parseConfig, ConfigError } from '@govault/lib';
import { authConfigSchema } from '@govault/auth';
import { filesConfigSchema } from '@govault/files';
import { gatewayConfigSchema } from '@govault/gateway';
import { uploadConfigSchema } from '@govault/upload';

/** The four services a deployment runs, each with the schema its main.ts parses the environment with. */
export const SERVICE_SCHEMAS = {
  gateway: gatewayConfigSchema,
  auth: authConfigSchema,
  upload: uploadConfigSchema,
  files: filesConfigSchema,
} as const satisfies Record<string, z.ZodType>;

export type DeployedService = keyof typeof SERVICE_SCHEMAS;

/**
 * Every environment variable a schema reads: the keys of its objects, through
 * transforms (pipes), intersections and refinements. A deployment that sets a name not
 * in this set sets something no service reads (a typo, or a setting that moved).
 */
export function schemaVariables(schema: z.ZodType): Set<string> {
  const names = new Set<string>();
  const visit = (node: z.ZodType): void => {
    const def = (node as unknown as { def: Record<string, unknown> & { type: string } }).def;
    switch (def.type) {
      case 'object':
        for (const key of Object.keys(def.shape as object)) names.add(key);
        return;
      case 'pipe':
        visit(def.in as z.ZodType);
        return;
      case 'intersection':
        visit(def.left as z.ZodType);
        visit(def.right as z.ZodType);
        return;
      default:
        throw new Error(`schemaVariables: a ${def.type} schema at the top of a service config is not understood`);
    }
  };
  visit(schema);
  return names;
}

export interface EnvCheck {
  /** Names the service's schema does not read. */
  unknown: string[];
  /** What the schema says is wrong with the values (empty when it parses). */
  problems: string[];
}

/** Checks one service's environment as a deployment gives it: every name known, and the whole parses. */
export function checkServiceEnv(service: DeployedService, env: Record<string, string>): EnvCheck {
  return checkEnvAgainst(SERVICE_SCHEMAS[service], env);
}

/** The same check against any environment schema (the image's one-shot jobs have their own). */
export function checkEnvAgainst(schema: z.ZodType, env: Record<string, string>): EnvCheck {
  const known = schemaVariables(schema);
  const unknown = Object.keys(env).filter((name) => !known.has(name)).sort();
  try {
    parseConfig(schema, env);
    return { unknown, problems: [] };
  } catch (err) {
    if (err instanceof ConfigError) return { unknown, problems: err.problems };
    throw err;
  }
}
