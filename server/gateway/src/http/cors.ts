import cors from '@koa/cors';
import type { Context } from 'koa';
import { originOf } from './public-origin.ts';

/** What browsers may read from our answers: tus progress, upload ids, direct-upload ETags. */
export const EXPOSED_HEADERS = [
  'Location',
  'Upload-Offset',
  'Upload-Length',
  'Upload-Metadata',
  'Upload-Expires',
  'Upload-Defer-Length',
  'Upload-Concat',
  'Tus-Resumable',
  'Tus-Version',
  'Tus-Extension',
  'Tus-Max-Size',
  'Tus-Checksum-Algorithm',
  'ETag',
  'GoVault-File-Id',
  'GoVault-Registration-Error',
  'X-Request-Id',
  'Retry-After',
  'RateLimit-Limit',
  'RateLimit-Remaining',
  'RateLimit-Reset',
  'RateLimit-Policy',
];

const ALLOWED_HEADERS = [
  'Authorization',
  'Content-Type',
  'X-Request-Id',
  'X-HTTP-Method-Override',
  'Tus-Resumable',
  'Upload-Length',
  'Upload-Metadata',
  'Upload-Offset',
  'Upload-Defer-Length',
  'Upload-Concat',
  'Upload-Checksum',
];

/**
 * Same origin always (a browser sends no Origin then, or our own: the origin chosen for
 * the request, never one its Host names alone); other origins only from CORS_ORIGINS.
 */
export function corsPolicy(allowedOrigins: string[]) {
  return cors({
    origin: (ctx: Context) => {
      const origin = ctx.get('origin');
      const { proto, host } = originOf(ctx);
      const own = `${proto}://${host}`;
      return origin === own || allowedOrigins.includes(origin) ? origin : '';
    },
    allowMethods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    allowHeaders: ALLOWED_HEADERS,
    exposeHeaders: EXPOSED_HEADERS,
    maxAge: 86400,
    keepHeadersOnError: true,
  });
}
