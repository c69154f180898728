export { buildFilesApp } from './app.ts';
export { filesConfigSchema, type FilesConfig } from './config.ts';
export type { FileView, NewFile } from './file/file.service.ts';
