import type { Context, Next } from 'koa';

/** Path segments that are part of route patterns; anything else is a parameter (an id, a key). */
const STATIC_SEGMENTS = new Set([
  'api', 'auth', 'register', 'login', 'refresh', 'logout', 'me', 'jwks.json',
  'uploads', 'tus', 's3', 'multipart', 'batch', 'complete', 'parts',
  'files', 'content', 'restore', 'permanent', 'shares', 'shortcuts', 'public',
  'healthz', 'readyz', 'metrics',
]);

/** `/api/files/4f0c…/content` → `/api/files/:id/content`: bounded labels for metrics and logs. */
export function routePattern(path: string): string {
  if (path === '/' || path === '/index.html') return path;
  if (!path.startsWith('/api/') && !['/healthz', '/readyz', '/metrics'].includes(path)) return 'unmatched';
  return path
    .split('/')
    .map((segment, i) => (i === 0 || STATIC_SEGMENTS.has(segment) ? segment : ':id'))
    .join('/');
}

/** Names the route early, so that the access log and the metrics label it even when a later step refuses it. */
export function routeName() {
  return async (ctx: Context, next: Next) => {
    ctx.state.routeName = routePattern(ctx.path);
    await next();
  };
}
