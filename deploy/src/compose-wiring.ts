import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { parseConfig } from '@govault/lib';
import { IMAGE_COMMANDS } from '../../server/launcher/src/image/main.ts';
import { checkEnvAgainst, SERVICE_SCHEMAS, type DeployedService, type EnvCheck } from './service-env.ts';

const isService = (word: string): word is DeployedService => Object.hasOwn(SERVICE_SCHEMAS, word);

/** The schema a container's environment is parsed with: the service's own, or the one-shot command's. */
export function containerSchema(word: string): z.ZodType {
  if (isService(word)) return SERVICE_SCHEMAS[word];
  const schema = IMAGE_COMMANDS[word]?.schema;
  if (!schema) throw new Error(`the image command ${word} exports no environment schema`);
  return schema;
}

/** checkServiceEnv for every command word of the image: the four services and the one-shot jobs. */
export function checkContainerEnv(word: string, env: Record<string, string>): EnvCheck {
  return checkEnvAgainst(containerSchema(word), env);
}

/** The ports a GoVault service listens on with this environment, as its own config parses them. */
export function listeningPorts(word: DeployedService, env: Record<string, string>): number[] {
  const config = parseConfig(SERVICE_SCHEMAS[word], env) as { port: number; metricsPort?: number };
  return config.metricsPort === undefined ? [config.port] : [config.port, config.metricsPort];
}

// --- the compose file as written, before interpolation -----------------------------------

export interface VariableReference {
  name: string;
  /** `${NAME:-default}` / `${NAME-default}`. */
  fallback?: string;
  /** `${NAME:?message}` / `${NAME?message}`: compose refuses to start without it. */
  required: boolean;
}

/** Every `${NAME...}` in a text, as compose's interpolation reads it (`$${...}` is an escaped dollar). */
export function variableReferences(text: string): VariableReference[] {
  const references: VariableReference[] = [];
  for (const match of text.matchAll(/(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g)) {
    const [, name, operator, argument] = match;
    references.push({
      name: name!,
      fallback: operator?.endsWith('-') ? argument : undefined,
      required: operator?.endsWith('?') ?? false,
    });
  }
  return references;
}

/** The NAME=value lines of an env file (comments and blank lines skipped). */
export function readEnvFile(path: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (match) values.set(match[1]!, match[2]!);
  }
  return values;
}
