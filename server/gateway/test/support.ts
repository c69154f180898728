import { createHash, createPublicKey } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import jwt from 'jsonwebtoken';
import { pino } from 'pino';
import { generateEcKeyPair, listen, type RunningServer } from '@govault/lib';
import { testServiceKeys } from '@govault/lib/testing';
import { buildGatewayApp, type GatewayApp } from '../src/app.ts';
import { gatewayConfigSchema } from '../src/config.ts';
import { frontDoorServer } from '../src/limits/front-door-server.ts';

/** Stand-in upstreams and a gateway in front of them, for the gateway's own tests. */
export const keys = testServiceKeys();
const signing = generateEcKeyPair();
export const kid = 'test-key';
const jwk = { ...createPublicKey(signing.publicKey).export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' };
/** The signing key's public half as the PEM an attacker could read from the JWKS. */
export const publicKeyPem = signing.publicKey;

export interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  bodyBytes: number;
  bodySha256: string;
}

export interface StandIn {
  server: Server;
  seen: Seen[];
  port: number;
  url: string;
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse, seen: Seen) => void;

/** A real HTTP server that records what reached it and serves the JWKS like auth does. */
export async function standIn(handler?: Handler, port = 0): Promise<StandIn> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      hash.update(chunk);
    });
    req.on('end', () => {
      const record = { method: req.method!, url: req.url!, headers: req.headers, bodyBytes: bytes, bodySha256: hash.digest('hex') };
      seen.push(record);
      if (req.url === '/api/auth/jwks.json') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
        return;
      }
      if (req.url === '/healthz' || req.url === '/readyz') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
        return;
      }
      if (handler) return handler(req, res, record);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, port: server.address() && (server.address() as AddressInfo).port }));
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const actual = (server.address() as AddressInfo).port;
  return {
    server,
    seen,
    port: actual,
    url: `http://127.0.0.1:${actual}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export function accessToken(userId: string, overrides: jwt.SignOptions = {}) {
  return jwt.sign({ typ: 'access' }, signing.privateKey, {
    algorithm: 'ES256',
    keyid: kid,
    issuer: 'govault-auth',
    audience: 'govault-api',
    subject: userId,
    expiresIn: 60,
    ...overrides,
  });
}

export interface TestGateway {
  base: string;
  port: number;
  /** The operator's listener (GATEWAY_METRICS_PORT): /metrics. */
  metricsBase: string;
  built: GatewayApp;
  logLines: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

/** A gateway on a free port with the given environment (upstream URLs, limits). */
export async function startGateway(env: Record<string, string | undefined>): Promise<TestGateway> {
  const config = gatewayConfigSchema.parse({ GATEWAY_PORT: '0', INTERNAL_KEY_DIR: keys.dir, LOG_LEVEL: 'info', ...env });
  const logLines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) });
  const built = buildGatewayApp(config, logger);
  const running: RunningServer = await listen(built.app, '127.0.0.1', 0, frontDoorServer(config.clientLimits));
  const operator: RunningServer = await listen(built.operatorApp, '127.0.0.1', 0);
  const base = `http://127.0.0.1:${running.port}`;
  const metricsBase = `http://127.0.0.1:${operator.port}`;
  metricsBaseOf.set(base, metricsBase);
  return {
    base,
    port: running.port,
    metricsBase,
    built,
    logLines,
    close: async () => {
      metricsBaseOf.delete(base);
      running.server.closeAllConnections();
      operator.server.closeAllConnections();
      await Promise.all([running.close(), operator.close()]);
      await built.close();
    },
  };
}

/** The public base of each running test gateway → its metrics listener. */
const metricsBaseOf = new Map<string, string>();

/** A metric of a test gateway, given its public base (read from its metrics port) or a metrics base. */
export async function metricValue(base: string, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const text = await (await fetch(`${metricsBaseOf.get(base) ?? base}/metrics`)).text();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.split(' ').at(-1));
  }
  return undefined;
}
