import { STATUS_CODES, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { AppError, errorBody, type ErrorCode, type ListenOptions } from '@govault/lib';
import type { GatewayConfig } from '../config.ts';
import { capConnectionsPerAddress } from './connection-limit.ts';

export type ClientLimits = GatewayConfig['clientLimits'];

/**
 * The gateway's own HTTP server settings: a deadline for the header section (slowloris),
 * a cap on connections per client address, and JSON answers to requests Node's parser
 * refuses (bad framing such as Content-Length with Transfer-Encoding, RFC 9112 §6.3).
 */
export function frontDoorServer(limits: ClientLimits): ListenOptions {
  return {
    server: {
      headersTimeout: limits.headersTimeoutMs,
      // Node checks the deadlines on this beat: at its default (30 s) a slow header section lives up to 30 s longer.
      connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
    },
    prepare: (server: Server) => {
      capConnectionsPerAddress(server, limits.maxConnectionsPerIp);
      server.on('clientError', answerClientError);
    },
  };
}

const CLIENT_ERRORS: Record<string, { status: number; code: ErrorCode; message: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, code: 'validation_failed', message: 'Request header section too large' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, code: 'request_timeout', message: 'The request header section was not sent in time' },
};
const MALFORMED = { status: 400, code: 'validation_failed' as const, message: 'Malformed HTTP request' };

/** Node's default clientError handler, with the JSON error body: answer unless a response has begun, then close. */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  // Node keeps the response in progress on the socket; writing over one that has begun would corrupt it.
  const inProgress = (socket as Duplex & { _httpMessage?: ServerResponse })._httpMessage;
  if (socket.writable && !inProgress?.headersSent) {
    const { status, code, message } = CLIENT_ERRORS[err.code ?? ''] ?? MALFORMED;
    const body = JSON.stringify(errorBody(new AppError(code, status, message)));
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}
