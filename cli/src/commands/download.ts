import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Command } from 'commander';
import { CliContext } from '../context.ts';
import { download } from '../download/download.ts';
import { CliError, usageError } from '../errors.ts';
import { parseId } from '../units.ts';

export function downloadCommand(cli: CliContext): Command {
  return new Command('download')
    .description('download a file; run it again to continue an interrupted download')
    .argument('<id>', 'a file id, as govault ls shows it', parseId)
    .option('-o, --output <path>', 'where to write it (a file or a directory; default: its name here)')
    .option('-f, --force', 'replace a file that is already there')
    .action(async (id: string, options: { output?: string; force?: boolean }, command: Command) => {
      const globals = CliContext.globals(command);
      const api = await cli.api(globals);
      const file = await api.getFile(id);
      const target = await targetPath(options.output, file.name);
      if (!options.force && (await stat(target).catch(() => undefined))) {
        throw usageError(`${target} already exists; add --force to replace it, or choose another path with -o.`);
      }
      const reporter = cli.reporter(globals, file.size, 1);
      const began = Date.now();
      try {
        const { resumed, sent } = await cli.interruptible(reporter, () => download(api, file, target, reporter, cli.retry(globals)));
        const seconds = (Date.now() - began) / 1000;
        reporter.emit({ event: 'done', path: target, name: file.name, fileId: file.id, bytes: file.size, sent, resumed, seconds });
      } catch (err) {
        if (err instanceof CliError && globals.json) reporter.emit({ event: 'error', path: target, message: err.message });
        throw err;
      } finally {
        reporter.close();
      }
    });
}

/** `-o` as given, or inside it when it is a directory; by default the file's own name (never a path it carries). */
async function targetPath(output: string | undefined, name: string): Promise<string> {
  const base = basename(name.replaceAll('\\', '/'));
  const safeName = base && base !== '.' && base !== '..' ? base : 'download';
  if (!output) return safeName;
  return (await stat(output).catch(() => undefined))?.isDirectory() ? join(output, safeName) : output;
}
