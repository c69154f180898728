import { Command, Option } from 'commander';
import type { FileItem, View } from '../api/govault-api.ts';
import { CliContext } from '../context.ts';
import { formatBytes } from '../output/events.ts';

export function lsCommand(cli: CliContext): Command {
  return new Command('ls')
    .description('list files: your own, shared with you, your shortcuts, or the trash')
    .addOption(new Option('--view <view>', 'which files').choices(['owned', 'shared', 'shortcuts', 'trash']).default('owned'))
    .option('-q, --query <text>', 'only names that contain TEXT')
    .action(async (options: { view: View; query?: string }, command: Command) => {
      const globals = CliContext.globals(command);
      const api = await cli.api(globals);
      const files = await api.listFiles(options.view, options.query);
      if (globals.json) return files.forEach((file) => cli.out(globals, file, () => ''));
      if (files.length === 0) return cli.say('No files.');
      cli.terminal.stdout.write(table(files));
    });
}

function table(files: FileItem[]): string {
  const rows = files.map((f) => [f.id, formatBytes(f.size), f.role, f.visibility, f.updatedAt.slice(0, 16).replace('T', ' '), f.name]);
  const header = ['ID', 'SIZE', 'ROLE', 'VISIBILITY', 'UPDATED', 'NAME'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return `${[header, ...rows].map(line).join('\n')}\n`;
}
