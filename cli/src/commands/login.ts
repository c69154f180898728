import { Command } from 'commander';
import { read } from 'read';
import { tokenFields, type TokenPair } from '../api/session.ts';
import type { User } from '../api/govault-api.ts';
import { CliContext } from '../context.ts';
import { CliError, ExitCode, usageError } from '../errors.ts';

export function loginCommand(cli: CliContext): Command {
  return new Command('login')
    .description('sign in; asks for email and password on a terminal')
    .option('--email <email>', 'the account email')
    .option('--password-stdin', 'read the password from standard input (for scripts)')
    .action(async (options: { email?: string; passwordStdin?: boolean }, command: Command) => {
      const globals = CliContext.globals(command);
      const interactive = Boolean(cli.terminal.stdin.isTTY);
      if (!interactive && (!options.email || !options.passwordStdin)) {
        throw usageError('Not a terminal: give --email and --password-stdin, with the password on standard input.');
      }
      const email = String(options.email ?? (await read({ prompt: 'Email: ', input: cli.terminal.stdin, output: cli.terminal.stderr })));
      const password = options.passwordStdin
        ? await readAll(cli.terminal.stdin)
        : String(await read({ prompt: 'Password: ', silent: true, replace: '', input: cli.terminal.stdin, output: cli.terminal.stderr }));
      if (!email.trim() || !password) throw usageError('Both an email and a password are needed.');

      const http = await cli.http(globals);
      const login = await http.json<TokenPair>('POST', '/api/auth/login', { body: { email: email.trim(), password }, accept: [400, 401] });
      if (login.status !== 200) throw new CliError('Wrong email or password. Check both, or register in the web app first.', ExitCode.notSignedIn);
      const me = await http.json<User>('GET', '/api/auth/me', { headers: { authorization: `Bearer ${login.body.accessToken}` } });
      await cli.credentials.save(http.server, { email: me.body.email, userId: me.body.id, ...tokenFields(login.body) }, true);
      cli.out(globals, { server: http.server, ...me.body }, () => `Logged in to ${http.server} as ${me.body.email}.`);
    });
}

/** The password from a pipe: everything up to the end, without the final newline `echo` adds. */
async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}
