import { Command } from 'commander';
import { CliContext } from '../context.ts';

export function whoamiCommand(cli: CliContext): Command {
  return new Command('whoami').description('show the signed-in user').action(async (_options, command: Command) => {
    const globals = CliContext.globals(command);
    const api = await cli.api(globals);
    const me = await api.me();
    cli.out(globals, { server: api.session.server, ...me }, () => `${me.email}${me.displayName ? ` (${me.displayName})` : ''} on ${api.session.server}`);
  });
}
