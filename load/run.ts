import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { defaultMode, runScenario, startStack, type RunTarget } from './lib/runner.ts';
import type { RunOptions } from './lib/scenario.ts';
import { scenarios } from './scenarios/index.ts';

/**
 * npm run load -- <scenario> [--short] [--vus N] [--duration S] [--url URL] [--out DIR]
 * Exit codes: 0 thresholds passed, 99 a threshold failed (as k6), 2 bad usage, 1 could not run.
 */
const usage = `usage: npm run load -- <${Object.keys(scenarios).join('|')}> [--short] [--vus N] [--duration SECONDS] [--url http://127.0.0.1:8080] [--out DIR]`;
const DEFAULT_OUT = fileURLToPath(new URL('./results/', import.meta.url));

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        short: { type: 'boolean', default: false },
        vus: { type: 'string' },
        duration: { type: 'string' },
        url: { type: 'string' },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    console.error(`${(err as Error).message}\n${usage}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const scenario = scenarios[positionals[0] ?? ''];
  if (!scenario || positionals.length !== 1) {
    console.error(usage);
    return 2;
  }
  const defaults = values.short ? scenario.defaults.short : scenario.defaults.full;
  const number = (text: string | undefined, fallback: number, name: string) => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a whole number of at least 1, not ${text}`);
    return n;
  };
  let options: RunOptions;
  try {
    options = { short: values.short, vus: number(values.vus, defaults.vus, 'vus'), durationS: number(values.duration, defaults.durationS, 'duration') };
    if (values.url !== undefined && !/^https?:\/\//.test(values.url)) throw new UsageError(`--url must be an http(s) URL, not ${values.url}`);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`${err.message}\n${usage}`);
    return 2;
  }

  const ownStack = scenario.stack === 'two-upload-instances' || values.url === undefined;
  if (scenario.stack === 'two-upload-instances' && values.url) console.warn(`${scenario.name} always starts its own cluster: --url ignored`);
  const mode = ownStack ? defaultMode() : 'running';
  const cluster = ownStack ? await startStack(mode as 'embedded' | 'real', scenario.stack === 'two-upload-instances' ? 2 : 1) : undefined;
  const target: RunTarget = cluster ? { baseUrl: cluster.baseUrl, mode, cluster } : { baseUrl: values.url!.replace(/\/$/, ''), mode };
  try {
    const result = await runScenario(scenario, target, { options, outDir: values.out ?? DEFAULT_OUT });
    return result.passed ? 0 : 99;
  } finally {
    await cluster?.stop();
  }
}

class UsageError extends Error {}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
