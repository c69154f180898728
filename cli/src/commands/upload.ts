import { stat } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { CliContext } from '../context.ts';
import { CliError, ExitCode, usageError } from '../errors.ts';
import { formatBytes } from '../output/events.ts';
import { parseCount, parseSize } from '../units.ts';
import { localFiles } from '../upload/local-files.ts';
import { Uploader } from '../upload/uploader.ts';

const MiB = 1024 * 1024;

interface UploadOptions {
  recursive?: boolean;
  parallel: number;
  chunkSize: number;
  direct?: boolean;
  checksum: boolean;
  public?: boolean;
  again?: boolean;
}

export function uploadCommand(cli: CliContext): Command {
  return new Command('upload')
    .description('upload files and directories; run it again to resume what an earlier run left unfinished')
    .argument('<path...>', 'files, or directories with --recursive')
    .option('-r, --recursive', 'upload what directories hold, keeping relative paths as metadata')
    .addOption(new Option('-p, --parallel <n>', 'files at once').argParser(parseCount).default(4))
    .addOption(new Option('--chunk-size <size>', 'bytes per request (tus) or part (direct), e.g. 8MiB').argParser(parseSize).default(8 * MiB, '8MiB'))
    .option('--direct', 'send parts straight to storage (S3 multipart on presigned URLs)')
    .option('--no-checksum', 'do not send Upload-Checksum (sha256) with each chunk')
    .option('--public', 'make each file public once it is uploaded')
    .option('--again', 'upload files this machine has uploaded unchanged before (by default they are skipped while that file exists)')
    .action(async (paths: string[], options: UploadOptions, command: Command) => {
      const globals = CliContext.globals(command);
      if (options.parallel < 1) throw usageError('--parallel must be at least 1.');
      const items = await localFiles(paths, Boolean(options.recursive));
      if (items.length === 0) throw usageError(`Nothing to upload in ${paths.join(', ')}.`);
      const api = await cli.api(globals);
      await api.session.credentials();

      const sizes = await Promise.all(items.map(async (item) => (await stat(item.path)).size));
      const max = await api.maxUploadSize();
      const tooLarge = max === undefined ? [] : items.filter((_, i) => sizes[i]! > max);
      if (tooLarge.length > 0) {
        const names = tooLarge.map((item) => item.shownPath).join(', ');
        throw new CliError(`${names}: larger than this server's maximum file size of ${formatBytes(max!)}; nothing was uploaded.`, ExitCode.failed);
      }

      const reporter = cli.reporter(globals, sizes.reduce((a, b) => a + b, 0), items.length);
      const uploader = new Uploader(api, cli.resumeStore, reporter, {
        parallel: options.parallel,
        chunkSize: options.chunkSize,
        direct: Boolean(options.direct),
        checksum: options.checksum,
        visibility: options.public ? 'public' : 'private',
        retry: cli.retry(globals),
        again: Boolean(options.again),
      });
      const summary = await cli.interruptible(reporter, () => uploader.run(items, paths));
      if (summary.failed === summary.files) process.exitCode = ExitCode.failed;
      else if (summary.failed > 0) process.exitCode = ExitCode.someFailed;
    });
}
