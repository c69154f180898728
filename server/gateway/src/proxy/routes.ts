import type { UpstreamName } from '../config.ts';

/**
 * One route of the public API (ARCHITECTURE.md "Public API"). The gateway answers only
 * these: its public-route rule, its credential budget, its routing to the services and
 * its metrics labels all name a route of this table, so a path that is not exactly one
 * of them (another case, a trailing slash, an extra segment) is nobody's route.
 */
export interface ApiRoute {
  methods: readonly string[];
  /** The route pattern, as the services' routers spell it: the metrics label. */
  pattern: string;
  upstream: UpstreamName;
  /** Needs no access token. */
  public?: boolean;
  /** Register, login, refresh: the stricter per-address budget. */
  credentials?: boolean;
  /** Tighter forms for some parameters (a regular expression each); others are any one segment. */
  params?: Record<string, string>;
}

/** A `:param` is one path segment; `.` and `..` are never one (a proxy in front may resolve them). */
const PARAM = '(?!\\.\\.?(?:/|$))[^/]+';

const TUS = '/api/uploads/tus';
const MULTIPART = '/api/uploads/s3/multipart';

export const API_ROUTES: readonly ApiRoute[] = [
  { methods: ['POST'], pattern: '/api/auth/register', upstream: 'auth', public: true, credentials: true },
  { methods: ['POST'], pattern: '/api/auth/login', upstream: 'auth', public: true, credentials: true },
  { methods: ['POST'], pattern: '/api/auth/refresh', upstream: 'auth', public: true, credentials: true },
  { methods: ['POST'], pattern: '/api/auth/logout', upstream: 'auth' },
  { methods: ['GET'], pattern: '/api/auth/me', upstream: 'auth' },
  { methods: ['GET'], pattern: '/api/auth/jwks.json', upstream: 'auth', public: true },

  { methods: ['GET'], pattern: '/api/uploads', upstream: 'upload' },
  // tus: "An OPTIONS request MAY be used to gather information about the Server's current configuration."
  { methods: ['OPTIONS', 'POST'], pattern: TUS, upstream: 'upload' },
  { methods: ['OPTIONS', 'HEAD', 'PATCH', 'DELETE'], pattern: `${TUS}/:id`, upstream: 'upload' },
  { methods: ['POST'], pattern: MULTIPART, upstream: 'upload' },
  { methods: ['GET', 'DELETE'], pattern: `${MULTIPART}/:uploadId`, upstream: 'upload' },
  { methods: ['GET'], pattern: `${MULTIPART}/:uploadId/batch`, upstream: 'upload' },
  { methods: ['GET'], pattern: `${MULTIPART}/:uploadId/:partNumber`, upstream: 'upload' },
  { methods: ['POST'], pattern: `${MULTIPART}/:uploadId/complete`, upstream: 'upload' },
  // Embedded mode's self-signed part URLs: their signature authenticates them, so only their exact form is public.
  {
    methods: ['PUT'],
    pattern: '/api/uploads/parts/:uploadId/:partNumber',
    upstream: 'upload',
    public: true,
    params: { uploadId: '[0-9a-f]{32}', partNumber: '\\d{1,5}' },
  },

  { methods: ['GET'], pattern: '/api/files', upstream: 'files' },
  { methods: ['GET', 'PATCH', 'DELETE'], pattern: '/api/files/:id', upstream: 'files' },
  { methods: ['POST'], pattern: '/api/files/:id/restore', upstream: 'files' },
  { methods: ['DELETE'], pattern: '/api/files/:id/permanent', upstream: 'files' },
  { methods: ['GET'], pattern: '/api/files/:id/content', upstream: 'files' },
  { methods: ['GET', 'POST'], pattern: '/api/files/:id/shares', upstream: 'files' },
  { methods: ['PUT', 'DELETE'], pattern: '/api/files/:id/shares/:userId', upstream: 'files' },
  { methods: ['POST'], pattern: '/api/shortcuts', upstream: 'files' },
  { methods: ['DELETE'], pattern: '/api/shortcuts/:id', upstream: 'files' },
  { methods: ['GET'], pattern: '/api/public/files/:id', upstream: 'files', public: true },
  { methods: ['GET'], pattern: '/api/public/files/:id/content', upstream: 'files', public: true },
];

/** `/api/files/:id` → /^\/api\/files\/([^/]+)$/: case-sensitive, no trailing slash. */
function matcherOf({ pattern, params = {} }: ApiRoute): RegExp {
  const source = pattern
    .split('/')
    .map((segment) => {
      if (!segment.startsWith(':')) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      return params[segment.slice(1)] ?? PARAM;
    })
    .join('/');
  return new RegExp(`^${source}$`);
}

// A static segment wins over a parameter (`…/:uploadId/batch` before `…/:uploadId/:partNumber`),
// as in the services' routers: fewer parameters first.
const MATCHERS = [...API_ROUTES]
  .sort((a, b) => paramCount(a.pattern) - paramCount(b.pattern))
  .map((route) => ({ route, path: matcherOf(route) }));

function paramCount(pattern: string): number {
  return pattern.split('/').filter((segment) => segment.startsWith(':')).length;
}

/**
 * The route a request names, if any. A GET route also answers HEAD (as the services'
 * routers do). OPTIONS names any route's path: browsers' preflights, which CORS answers.
 */
export function apiRouteOf(method: string, path: string): ApiRoute | undefined {
  const methodMatches = (route: ApiRoute) =>
    route.methods.includes(method) || (method === 'HEAD' && route.methods.includes('GET'));
  const onPath = MATCHERS.filter(({ path: matcher }) => matcher.test(path)).map(({ route }) => route);
  return onPath.find(methodMatches) ?? (method === 'OPTIONS' ? onPath[0] : undefined);
}

/** Routes that need no access token. OPTIONS is always public: preflights carry no credentials. */
export function isPublicRoute(route: ApiRoute | undefined, method: string): boolean {
  return method === 'OPTIONS' || route?.public === true;
}

/** Register, login and refresh (their own method: a plain OPTIONS to their path is no login). */
export function isCredentialRequest(route: ApiRoute | undefined, method: string): boolean {
  return route?.credentials === true && route.methods.includes(method);
}
