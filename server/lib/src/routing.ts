/**
 * Every service's routers match paths exactly: `/api/auth/Login` and `/api/auth/login/`
 * are not `/api/auth/login`. The gateway's rate limits and public-route rules name exact
 * paths, so a router that folded case or ignored a trailing slash would answer a route
 * under another route's limits. `new Router(EXACT_ROUTING)`.
 */
export const EXACT_ROUTING = { sensitive: true, strict: true } as const;
