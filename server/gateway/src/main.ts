import { createLogger, listen, loadConfigOrExit, onShutdown } from '@govault/lib';
import { buildGatewayApp } from './app.ts';
import { gatewayConfigSchema } from './config.ts';
import { frontDoorServer } from './limits/front-door-server.ts';

const config = loadConfigOrExit(gatewayConfigSchema);
const logger = createLogger('gateway', config.logLevel);
const { app, operatorApp, close } = buildGatewayApp(config, logger);
const running = await listen(app, config.host, config.port, frontDoorServer(config.clientLimits));
const operator = await listen(operatorApp, config.host, config.metricsPort);
logger.info({ port: running.port, metricsPort: operator.port }, 'gateway listening');
onShutdown(logger, running, [operator.close, close]);
