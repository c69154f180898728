import { createLogger, listen, loadConfigOrExit, onShutdown } from '@govault/lib';
import { buildFilesApp } from './app.ts';
import { filesConfigSchema } from './config.ts';

const config = loadConfigOrExit(filesConfigSchema);
const logger = createLogger('files', config.logLevel);
const { app, close } = await buildFilesApp(config, logger);
const running = await listen(app, config.host, config.port);
logger.info(
  { host: config.host, port: running.port, storage: config.s3 ? 's3' : 'disk' },
  'files service listening',
);
onShutdown(logger, running, [close]);
