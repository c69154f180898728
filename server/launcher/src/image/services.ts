import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { healthzUrlFile } from './healthcheck.ts';

export const SERVICE_WORDS = ['gateway', 'auth', 'upload', 'files'] as const;
export type ServiceWord = (typeof SERVICE_WORDS)[number];

/**
 * Each service's own entry, imported rather than spawned: the service then runs in the
 * dispatcher's process, the one tini (PID 1) starts and forwards SIGTERM to, so its own
 * graceful shutdown (lib's onShutdown) is what `docker stop` triggers.
 */
const entries: Record<ServiceWord, () => Promise<unknown>> = {
  gateway: () => import('../../../gateway/src/main.ts'),
  auth: () => import('../../../auth/src/main.ts'),
  upload: () => import('../../../upload/src/main.ts'),
  files: () => import('../../../files/src/main.ts'),
};

/** The service's own config schema: the healthz address comes from the same HOST and *_PORT it listens on. */
const configSchemas: Record<ServiceWord, () => Promise<{ safeParse(env: unknown): { success: boolean; data?: { host: string; port: number } } }>> = {
  gateway: async () => (await import('../../../gateway/src/config.ts')).gatewayConfigSchema,
  auth: async () => (await import('../../../auth/src/config.ts')).authConfigSchema,
  upload: async () => (await import('../../../upload/src/config.ts')).uploadConfigSchema,
  files: async () => (await import('../../../files/src/config.ts')).filesConfigSchema,
};

/** Runs `server/<service>/src/main.ts`, which reads the same environment it would read alone. */
export async function runService(service: ServiceWord, env: NodeJS.ProcessEnv): Promise<'serving'> {
  await noteHealthzUrl(service, env);
  await entries[service]();
  return 'serving';
}

/**
 * Writes the URL the healthcheck command probes. A wildcard HOST (0.0.0.0, ::) is probed
 * on loopback. Nothing is written when the environment is bad (main.ts then says why and
 * exits) or when the port is 0 (chosen at listen time, so unknown here).
 */
async function noteHealthzUrl(service: ServiceWord, env: NodeJS.ProcessEnv): Promise<void> {
  const file = healthzUrlFile(env);
  rmSync(file, { force: true });
  const parsed = (await configSchemas[service]()).safeParse(env);
  if (!parsed.success || !parsed.data || parsed.data.port === 0) return;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${healthzUrl(parsed.data.host, parsed.data.port)}\n`);
}

export function healthzUrl(host: string, port: number): string {
  const probeHost = ['0.0.0.0', '::', ''].includes(host) ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return `http://${probeHost}:${port}/healthz`;
}
