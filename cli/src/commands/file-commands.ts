import { createInterface } from 'node:readline/promises';
import { Command, Option } from 'commander';
import { CliContext } from '../context.ts';
import { usageError } from '../errors.ts';
import { parseId } from '../units.ts';

/**
 * The one-call file commands. Each prints what changed (or the JSON answer with --json),
 * and says nothing more: quiet success, as gh does.
 */
export function fileCommands(cli: CliContext): Command[] {
  const action = (run: (api: Awaited<ReturnType<CliContext['api']>>, ...args: string[]) => Promise<{ value: unknown; text: string }>) =>
    async (...args: unknown[]) => {
      const command = args.at(-1) as Command;
      const globals = CliContext.globals(command);
      const { value, text } = await run(await cli.api(globals), ...(command.processedArgs as string[]));
      cli.out(globals, value, () => text);
    };

  const share = new Command('share')
    .description('share a file you own with someone, by email')
    .argument('<id>', 'a file id, as govault ls shows it', parseId)
    .argument('<email>')
    .addOption(new Option('--role <role>', 'what they may do').choices(['viewer', 'editor']).default('viewer'))
    .action(async (id: string, email: string, options: { role: 'viewer' | 'editor' }, command: Command) => {
      const globals = CliContext.globals(command);
      const api = await cli.api(globals);
      const granted = await api.share(id, email, options.role);
      cli.out(globals, granted, () => `Shared ${id} with ${email} as ${options.role}.`);
    });

  const unshare = new Command('unshare')
    .description('take back a share (or a pending invitation)')
    .argument('<id>', 'a file id, as govault ls shows it', parseId)
    .argument('<email>')
    .action(
      action(async (api, id, email) => {
        await api.unshare(id!, email!);
        return { value: { id, email, shared: false }, text: `${email} no longer has ${id}.` };
      }),
    );

  const mv = new Command('mv')
    .description('rename a file')
    .argument('<id>', 'a file id, as govault ls shows it', parseId)
    .argument('<name>')
    .action(
      action(async (api, id, name) => {
        const file = await api.updateFile(id!, { name });
        return { value: file, text: `Renamed ${id} to ${file.name}.` };
      }),
    );

  const publicLink = new Command('public')
    .description('make a file public (prints its link) or private again')
    .argument('<id>', 'a file id, as govault ls shows it', parseId)
    .argument('<on|off>')
    .action(
      action(async (api, id, state) => {
        if (state !== 'on' && state !== 'off') throw usageError(`public takes "on" or "off", not "${state}".`);
        const file = await api.updateFile(id!, { visibility: state === 'on' ? 'public' : 'private' });
        const link = `${api.session.server}/p/${file.id}`;
        return state === 'on' ? { value: { ...file, link }, text: link } : { value: file, text: `${id} is private.` };
      }),
    );

  const shortcut = new Command('shortcut')
    .description('add a shortcut to a file shared with you')
    .argument('<id>', 'a file id, as govault ls shows it', parseId)
    .action(
      action(async (api, id) => {
        const added = await api.addShortcut(id!);
        return { value: added, text: `Added a shortcut to ${id}.` };
      }),
    );

  const rm = new Command('rm')
    .description('move a file to the trash')
    .argument('<id>', 'a file id, as govault ls shows it', parseId)
    .action(
      action(async (api, id) => {
        await api.trash(id!);
        return { value: { id, trashed: true }, text: `Moved ${id} to the trash; \`govault restore ${id}\` brings it back.` };
      }),
    );

  const restore = new Command('restore')
    .description('bring a file back from the trash')
    .argument('<id>', 'a file id, as govault ls shows it', parseId)
    .action(
      action(async (api, id) => {
        const file = await api.restore(id!);
        return { value: file, text: `Restored ${file.name}.` };
      }),
    );

  const purge = new Command('purge')
    .description('delete a file for good (asks first on a terminal; --yes otherwise)')
    .argument('<id>', 'a file id, as govault ls shows it', parseId)
    .option('-y, --yes', 'do not ask')
    .action(async (id: string, options: { yes?: boolean }, command: Command) => {
      const globals = CliContext.globals(command);
      if (!options.yes) {
        if (!cli.terminal.stdin.isTTY) throw usageError('purge deletes for good: add --yes to confirm when not on a terminal.');
        const prompt = createInterface({ input: cli.terminal.stdin, output: cli.terminal.stderr });
        const answer = await prompt.question(`Delete ${id} for good? This cannot be undone. [y/N] `);
        prompt.close();
        if (!/^y(es)?$/i.test(answer.trim())) return cli.say('Nothing deleted.');
      }
      const api = await cli.api(globals);
      await api.purge(id);
      cli.out(globals, { id, purged: true }, () => `Deleted ${id} for good.`);
    });

  return [share, unshare, mv, publicLink, shortcut, rm, restore, purge];
}
