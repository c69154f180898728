import { Command } from 'commander';
import { CliContext } from '../context.ts';

export function logoutCommand(cli: CliContext): Command {
  return new Command('logout').description('sign out and revoke this login on the server').action(async (_options, command: Command) => {
    const globals = CliContext.globals(command);
    const server = await cli.server(globals);
    if (!(await cli.credentials.get(server))) return cli.say(`Not signed in to ${server}.`);
    const api = await cli.api(globals);
    // Revoking is a courtesy to the server; the local credentials go whatever it answers.
    await api.session.json('POST', '/api/auth/logout', { accept: [401] }).catch(() => undefined);
    await cli.credentials.forget(server);
    cli.say(`Logged out of ${server}.`);
  });
}
