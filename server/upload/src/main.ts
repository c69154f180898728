import { createLogger, listen, loadConfigOrExit, onShutdown } from '@govault/lib';
import { buildUploadApp } from './app.ts';
import { uploadConfigSchema } from './config.ts';

const config = loadConfigOrExit(uploadConfigSchema);
const logger = createLogger('upload', config.logLevel);
const { app, close } = await buildUploadApp(config, logger);
const running = await listen(app, config.host, config.port);
logger.info({ port: running.port }, 'upload service listening');
onShutdown(logger, running, [close]);
