import type Koa from 'koa';
import { listen, parseConfig, type Logger, type RunningServer } from '@govault/lib';
import type { TestDatabase } from '@govault/lib/testing';
import { buildFilesApp, filesConfigSchema } from '@govault/files';
import { buildUploadApp, uploadConfigSchema, type UploadApp } from '../src/index.ts';

/** What a suite's real files and upload apps share: its databases, keys, logger and the list of things to close. */
export interface ServiceSetup {
  databases: Record<'upload' | 'files', TestDatabase>;
  keyDir: string;
  logger: Logger;
  closers: Array<() => Promise<unknown>>;
}

const MiB = 1024 * 1024;

/** The real files app over HTTP on a free port (or `port`); closed with the suite. */
export async function startFilesService(setup: ServiceSetup, env: Record<string, string>, port = 0): Promise<{ port: number; app: Koa; server: RunningServer }> {
  const files = await buildFilesApp(
    parseConfig(filesConfigSchema, { FILES_DATABASE_URL: setup.databases.files.url, INTERNAL_KEY_DIR: setup.keyDir, ...env }),
    setup.logger,
  );
  const server = await listen(files.app, '127.0.0.1', port);
  setup.closers.push(() => server.close(), files.close);
  return { port: server.port, app: files.app, server };
}

/** The real upload app over HTTP, registering with the files app at `filesPort`; 64 MiB uploads unless `env` says otherwise. */
export async function startUploadService(setup: ServiceSetup, filesPort: number, env: Record<string, string>): Promise<{ upload: UploadApp; port: number }> {
  const upload = await buildUploadApp(
    parseConfig(uploadConfigSchema, {
      UPLOAD_DATABASE_URL: setup.databases.upload.url,
      INTERNAL_KEY_DIR: setup.keyDir,
      FILES_URL: `http://127.0.0.1:${filesPort}`,
      MAX_UPLOAD_SIZE: String(64 * MiB),
      ...env,
    }),
    setup.logger,
  );
  const server = await listen(upload.app, '127.0.0.1', 0);
  setup.closers.push(() => server.close(), upload.close);
  return { upload, port: server.port };
}
