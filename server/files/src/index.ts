export { buildFilesApp, type FilesApp } from './app.ts';
export { filesConfigSchema, type FilesConfig } from './config.ts';
export { listSql, type FileListQuery } from './file/file.repository.ts';
export type { FileView, NewFile, ShortcutItem } from './file/file.service.ts';
