import { Command, CommanderError, Option } from 'commander';
import { downloadCommand } from './commands/download.ts';
import { fileCommands } from './commands/file-commands.ts';
import { loginCommand } from './commands/login.ts';
import { logoutCommand } from './commands/logout.ts';
import { lsCommand } from './commands/ls.ts';
import { uploadCommand } from './commands/upload.ts';
import { uploadsCommand } from './commands/uploads.ts';
import { whoamiCommand } from './commands/whoami.ts';
import { CliContext, DEFAULT_SERVER } from './context.ts';
import { CliError, ExitCode } from './errors.ts';
import { parseCount } from './units.ts';
import { DEFAULT_RETRY } from './api/retry.ts';

export function buildProgram(cli: CliContext): Command {
  const program = new Command('govault')
    .description('GoVault from the command line: resumable uploads, downloads and file commands')
    .version('0.1.0')
    .addOption(new Option('--server <url>', `the GoVault server (default: GOVAULT_SERVER, the last login, ${DEFAULT_SERVER})`))
    .option('--json', 'one JSON object per line on stdout, for scripts')
    .addOption(new Option('--retries <n>', 'attempts after a network error or a busy server').argParser(parseCount).default(DEFAULT_RETRY.retries))
    .showSuggestionAfterError()
    .configureOutput({ writeOut: (s) => cli.terminal.stdout.write(s), writeErr: (s) => cli.terminal.stderr.write(s) });
  const commands = [
    loginCommand(cli),
    logoutCommand(cli),
    whoamiCommand(cli),
    uploadCommand(cli),
    uploadsCommand(cli),
    lsCommand(cli),
    downloadCommand(cli),
    ...fileCommands(cli),
  ];
  for (const command of commands) program.addCommand(command);
  for (const command of [program, ...commands]) command.exitOverride();
  return program;
}

/** Runs one command line and returns the exit code of the contract. */
export async function run(argv: string[], cli: CliContext): Promise<number> {
  const program = buildProgram(cli);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return Number(process.exitCode ?? ExitCode.done);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has printed its message already (unknown command or flag, missing argument).
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return ExitCode.done;
      return ExitCode.usage;
    }
    if (err instanceof CliError) {
      cli.say(`govault: ${err.message}`);
      return err.exitCode;
    }
    cli.say(`govault: ${(err as Error).message ?? String(err)}`);
    return ExitCode.failed;
  }
}

/** The `govault` bin: this process's command line, terminal and environment. */
export function main(): Promise<number> {
  // A reader that stops early (`govault ls | head`) is not an error.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' ? process.exit(0) : undefined));
  const cli = new CliContext(process.env, { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr });
  return run(process.argv.slice(2), cli);
}
