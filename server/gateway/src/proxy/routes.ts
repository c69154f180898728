import type { UpstreamName } from '../config.ts';

/** Which service answers a public path. The services serve the same paths: no rewriting. */
export function upstreamFor(path: string): UpstreamName | undefined {
  if (path === '/api/auth' || path.startsWith('/api/auth/')) return 'auth';
  if (path === '/api/uploads' || path.startsWith('/api/uploads/')) return 'upload';
  if (/^\/api\/(files|shortcuts|public)(\/|$)/.test(path)) return 'files';
  return undefined;
}

const PUBLIC_ROUTES: Array<{ method: string; path: RegExp }> = [
  { method: 'POST', path: /^\/api\/auth\/(register|login|refresh)$/ },
  { method: 'GET', path: /^\/api\/auth\/jwks\.json$/ },
  { method: 'GET', path: /^\/api\/public\// },
  { method: 'HEAD', path: /^\/api\/public\// },
  { method: 'PUT', path: /^\/api\/uploads\/parts\/[0-9a-f]{32}\/\d{1,5}$/ }, // embedded part URLs: their signature authenticates them
];

/** Routes that need no access token. OPTIONS is always public: preflights carry no credentials. */
export function isPublicRoute(method: string, path: string): boolean {
  if (method === 'OPTIONS') return true;
  return PUBLIC_ROUTES.some((route) => route.method === method && route.path.test(path));
}
