import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../', import.meta.url));

export type Mode = 'embedded' | 'real';

export interface RunningSystem {
  mode: Mode;
  baseUrl: string;
  /** gatewayMetrics: the gateway's operator port (/metrics). */
  ports: { gateway: number; auth: number; upload: number; files: number; gatewayMetrics: number };
  output: string[];
  stop(): Promise<void>;
}

const REAL_VARIABLES = [
  'AUTH_DATABASE_URL',
  'UPLOAD_DATABASE_URL',
  'FILES_DATABASE_URL',
  'S3_ENDPOINT',
  'S3_BUCKET',
  'S3_ACCESS_KEY_ID',
  'S3_SECRET_ACCESS_KEY',
];

/** The modes this run can test: embedded always, real when its servers are configured (CI requires them). */
export function availableModes(): Mode[] {
  const missing = REAL_VARIABLES.filter((name) => !process.env[name]);
  if (missing.length === 0) return ['embedded', 'real'];
  if (process.env.GOVAULT_REQUIRE_REAL_SERVICES === '1') {
    throw new Error(`GOVAULT_REQUIRE_REAL_SERVICES=1 but ${missing.join(', ')} not set`);
  }
  console.warn(`e2e: real PostgreSQL + S3 mode not run here (${missing.join(', ')} not set)`);
  return ['embedded'];
}

/**
 * One system per mode for a whole test file: started on the first test that asks for it,
 * and stopped by `stopAll` (register it with `test.after.always`).
 */
export function systemPerMode(extraEnv: NodeJS.ProcessEnv = {}) {
  const systems = new Map<Mode, Promise<RunningSystem>>();
  return {
    systemFor(mode: Mode): Promise<RunningSystem> {
      if (!systems.has(mode)) systems.set(mode, startSystem(mode, extraEnv));
      return systems.get(mode)!;
    },
    async stopAll(): Promise<void> {
      for (const system of systems.values()) await (await system.catch(() => undefined))?.stop();
    },
  };
}

/** Starts GoVault exactly as `npm start` does, on free ports and a fresh data folder. */
export async function startSystem(mode: Mode, extraEnv: NodeJS.ProcessEnv = {}): Promise<RunningSystem> {
  const dataDir = mkdtempSync(join(tmpdir(), `govault-e2e-${mode}-`));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATA_DIR: dataDir,
    GATEWAY_PORT: '0',
    AUTH_PORT: '0',
    UPLOAD_PORT: '0',
    FILES_PORT: '0',
    GATEWAY_METRICS_PORT: '0',
    LOG_LEVEL: 'warn',
    BCRYPT_ROUNDS: '4',
    ...extraEnv,
  };
  if (mode === 'embedded') {
    for (const name of [...REAL_VARIABLES, 'S3_PUBLIC_ENDPOINT']) delete env[name];
  }
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'server/launcher/src/main.ts')], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const ready = waitForReadyLine(child, output);
  const { ports } = await ready;
  return {
    mode,
    baseUrl: `http://127.0.0.1:${ports.gateway}`,
    ports,
    output,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function waitForReadyLine(child: ChildProcess, output: string[]): Promise<{ ports: RunningSystem['ports'] }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`GoVault did not start within 180 s:\n${output.slice(-40).join('\n')}`));
    }, 180_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the launcher exited with ${code}:\n${output.slice(-40).join('\n')}`));
    });
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        output.push(line);
        if (output.length > 2000) output.shift();
        const match = /GoVault is up: \S+\s+(\{.*\})$/.exec(line);
        if (match) {
          clearTimeout(timer);
          resolve(JSON.parse(match[1]!) as { ports: RunningSystem['ports'] });
        }
      });
    }
  });
}
