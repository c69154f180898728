import type { Context } from 'koa';

/**
 * The Content-Security-Policy of the web app's HTML answers. API answers keep helmet's.
 * Everything is helmet 8's default except the lines marked as loosened, each for a need
 * of the app.
 */
export function webAppCsp(options: { connectOrigins: string[] }): (ctx: Context) => string {
  const directives: Record<string, string[]> = {
    'default-src': ["'self'"],
    'base-uri': ["'self'"],
    'font-src': ["'self'", 'https:', 'data:'],
    'form-action': ["'self'"],
    'frame-ancestors': ["'self'"],
    'object-src': ["'none'"],
    'script-src': ["'self'"],
    'script-src-attr': ["'none'"],
    'style-src': ["'self'", 'https:', "'unsafe-inline'"],
    // Loosened: Uppy's Dashboard shows thumbnails of the picked files as blob: URLs.
    'img-src': ["'self'", 'data:', 'blob:'],
    // Loosened in S3 mode: direct-upload part PUTs and the download redirect go from the
    // browser straight to the bucket's public origin. Embedded mode: 'self' only.
    'connect-src': ["'self'", ...options.connectOrigins],
  };
  const policy = Object.entries(directives)
    .map(([name, values]) => `${name} ${values.join(' ')}`)
    .join(';');
  // helmet's upgrade-insecure-requests only over https: `npm start` serves plain http
  // (localhost, or a LAN address with HOST=0.0.0.0), where it would send the app's own
  // requests to an https port that does not exist.
  const overHttps = `${policy};upgrade-insecure-requests`;
  return (ctx) => (ctx.protocol === 'https' ? overHttps : policy);
}
