export { buildUploadApp, type UploadApp } from './app.ts';
export { uploadConfigSchema, type UploadConfig } from './config.ts';
