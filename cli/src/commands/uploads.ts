import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Command } from 'commander';
import type { UnfinishedUpload } from '../api/govault-api.ts';
import { CliContext } from '../context.ts';
import { ExitCode, usageError } from '../errors.ts';
import { formatBytes } from '../output/events.ts';
import type { ResumeEntry } from '../upload/resume-store.ts';
import { contentTypeOf } from '../upload/local-files.ts';
import { Uploader } from '../upload/uploader.ts';

const MiB = 1024 * 1024;

/** Which local file, if any, an unfinished upload on the server belongs to. */
function localEntry(upload: UnfinishedUpload, entries: ResumeEntry[]): ResumeEntry | undefined {
  return entries.find((e) => (upload.mode === 'tus' ? e.tusUrl?.endsWith(`/${upload.id}`) : e.multipart?.uploadId === upload.id));
}

export function uploadsCommand(cli: CliContext): Command {
  return new Command('uploads')
    .description('list unfinished uploads; --resume continues those started here, --abort ends them')
    .argument('[id...]', 'only these uploads')
    .option('--resume', 'continue the ones whose local file this machine knows')
    .option('--abort', 'terminate them on the server and forget them here')
    .action(async (ids: string[], options: { resume?: boolean; abort?: boolean }, command: Command) => {
      const globals = CliContext.globals(command);
      if (options.resume && options.abort) throw usageError('Choose --resume or --abort, not both.');
      const api = await cli.api(globals);
      const entries = (await cli.resumeStore.all(api.session.server)).filter((e) => !e.fileId);
      const uploads = (await api.unfinishedUploads()).filter((u) => ids.length === 0 || ids.includes(u.id));

      if (options.abort) {
        for (const upload of uploads) {
          const known = localEntry(upload, entries);
          if (upload.mode === 'tus') {
            const answer = await api.session.http.send('DELETE', known?.tusUrl ?? api.session.http.url(`/api/uploads/tus/${upload.id}`), {
              headers: { authorization: await api.session.authorization(), 'tus-resumable': '1.0.0' },
            });
            await answer.body?.cancel();
          } else {
            await api.session.json('DELETE', `/api/uploads/s3/multipart/${upload.id}?key=${encodeURIComponent(upload.key ?? '')}`, { accept: [404] });
          }
          if (known) await cli.resumeStore.forget(known.server, known.path);
          cli.out(globals, { event: 'aborted', id: upload.id, name: upload.name }, () => `Aborted ${upload.name} (${upload.id}).`);
        }
        return;
      }

      if (options.resume) {
        const resumable = uploads.map((u) => localEntry(u, entries)).filter((e): e is ResumeEntry => e !== undefined);
        const present = [];
        for (const entry of resumable) if (await stat(entry.path).catch(() => undefined)) present.push(entry);
        if (present.length === 0) return cli.say('No unfinished upload here can be resumed: their local files are unknown to this machine or gone.');
        const items = present.map((e) => ({ path: e.path, shownPath: e.path, name: basename(e.path), relativePath: null, contentType: contentTypeOf(e.path) }));
        const reporter = cli.reporter(globals, present.reduce((sum, e) => sum + e.fingerprint.size, 0), present.length);
        const uploader = new Uploader(api, cli.resumeStore, reporter, {
          parallel: 4,
          chunkSize: 8 * MiB,
          direct: false,
          checksum: true,
          visibility: 'private',
          retry: cli.retry(globals),
          again: false,
        });
        const summary = await cli.interruptible(reporter, () => uploader.run(items, items.map((item) => item.path)));
        if (summary.failed > 0) process.exitCode = summary.failed === summary.files ? ExitCode.failed : ExitCode.someFailed;
        return;
      }

      if (globals.json) return uploads.forEach((u) => cli.out(globals, { ...u, localPath: localEntry(u, entries)?.path ?? null }, () => ''));
      if (uploads.length === 0) return cli.say('No unfinished uploads.');
      for (const u of uploads) {
        const local = localEntry(u, entries)?.path;
        const held = u.size ? `${formatBytes(u.offset)} of ${formatBytes(u.size)}` : formatBytes(u.offset);
        cli.terminal.stdout.write(`${u.id}  ${u.mode.padEnd(6)}  ${held.padEnd(22)}  ${u.name}${local ? `  (${local})` : ''}\n`);
      }
    });
}
