import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

/** Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and are never forwarded. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/**
 * Headers only the gateway may set. A client's versions are dropped: X-User-*,
 * X-Internal-*, our own X-GoVault-*, the forwarding headers (tus builds Location URLs
 * from them), Host, and the user's access token, which services never need.
 */
function isSpoofable(name: string): boolean {
  return (
    name === 'host' ||
    name === 'authorization' ||
    name === 'forwarded' ||
    name.startsWith('x-forwarded-') ||
    name.startsWith('x-user-') ||
    name.startsWith('x-internal-') ||
    name.startsWith('x-govault-')
  );
}

export interface TrustedContext {
  userId?: string;
  requestId: string;
  internalToken: string;
  forwardedHost: string;
  forwardedProto: string;
  clientIp: string;
}

/** The trusted-header adapter: the client's headers minus what it may not say, plus what the gateway vouches for. */
export function requestHeadersFor(incoming: IncomingHttpHeaders, trusted: TrustedContext): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || HOP_BY_HOP.has(name) || isSpoofable(name)) continue;
    headers[name] = value;
  }
  headers['x-request-id'] = trusted.requestId;
  headers['x-internal-token'] = trusted.internalToken;
  if (trusted.userId) headers['x-user-id'] = trusted.userId;
  headers['x-forwarded-host'] = trusted.forwardedHost;
  headers['x-forwarded-proto'] = trusted.forwardedProto;
  headers['x-forwarded-for'] = trusted.clientIp;
  headers['x-forwarded-prefix'] = '/';
  return headers;
}

/** The upstream's answer minus hop-by-hop headers and CORS, which the gateway owns. */
export function responseHeadersFrom(incoming: IncomingHttpHeaders): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || HOP_BY_HOP.has(name) || name.startsWith('access-control-')) continue;
    headers[name] = value;
  }
  return headers;
}
