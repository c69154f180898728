export { buildAuthApp } from './app.ts';
export { authConfigSchema, type AuthConfig } from './config.ts';
