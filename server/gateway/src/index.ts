export { buildGatewayApp, type GatewayApp } from './app.ts';
export { gatewayConfigSchema, type GatewayConfig } from './config.ts';
