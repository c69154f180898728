import { createLogger, listen, loadConfigOrExit, onShutdown } from '@govault/lib';
import { buildAuthApp } from './app.ts';
import { authConfigSchema } from './config.ts';

const config = loadConfigOrExit(authConfigSchema);
const logger = createLogger('auth', config.logLevel);
const { app, close } = await buildAuthApp(config, logger);
const running = await listen(app, config.host, config.port);
logger.info({ host: config.host, port: running.port }, 'auth listening');
onShutdown(logger, running, [close]);
