import { execFile } from 'node:child_process';

export interface PromtoolRun {
  command: string;
  exitCode: number;
  /** stdout and stderr together, as promtool prints its findings on both. */
  output: string;
}

/** Runs `promtool <args>` in `cwd`; resolves with its exit code, never rejects on a non-zero one. */
export function promtool(args: string[], cwd: string): Promise<PromtoolRun> {
  const command = ['promtool', ...args].join(' ');
  return new Promise((resolve, reject) => {
    execFile('promtool', args, { cwd, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = (err as NodeJS.ErrnoException | null)?.code;
      if (typeof code === 'string') return reject(err); // ENOENT and the like: no promtool to run
      resolve({ command, exitCode: typeof code === 'number' ? code : 0, output: `${stdout}${stderr}` });
    });
  });
}

/** promtool's version line, or undefined when there is no promtool on PATH. */
export async function promtoolVersion(cwd: string): Promise<string | undefined> {
  try {
    const run = await promtool(['--version'], cwd);
    return run.exitCode === 0 ? run.output.split('\n')[0] : undefined;
  } catch {
    return undefined;
  }
}
