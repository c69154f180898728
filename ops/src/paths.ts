import { fileURLToPath } from 'node:url';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const PROMETHEUS_DIR = join(REPO_ROOT, 'prometheus');

/** prometheus/<folder>/*<suffix>, as paths relative to the repository root (the way a person types them). */
export function prometheusFiles(folder: 'rules' | 'tests', suffix: string): string[] {
  return readdirSync(join(PROMETHEUS_DIR, folder))
    .filter((name) => name.endsWith(suffix))
    .sort()
    .map((name) => `prometheus/${folder}/${name}`);
}
