import type { Context, Next } from 'koa';
import { notFound } from '@govault/lib';
import { apiRouteOf, type ApiRoute } from '../proxy/routes.ts';

/** The gateway's own answers, outside the API and the web app. */
const OWN_PATHS = new Set(['/healthz', '/readyz']);

/** The label of a request the web app answers (its pages, its assets), or undefined. */
export type OwnRouteOf = (method: string, path: string) => string | undefined;

/** Every path that is not a known route: one label, so made-up paths cannot grow the metrics. */
export const UNMATCHED = 'unmatched';

/**
 * Finds the request's route once, early, so that the access log and the metrics label
 * it even when a later step refuses it, and the later steps ask `routeOf(ctx)`.
 * `/api/files/4f0c…/content` → `/api/files/:id/content`; anything unknown → `unmatched`.
 */
export function routeName(webAppRouteOf: OwnRouteOf = () => undefined) {
  return async (ctx: Context, next: Next) => {
    const route = apiRouteOf(ctx.method, ctx.path);
    ctx.state.apiRoute = route;
    ctx.state.routeName = OWN_PATHS.has(ctx.path) ? ctx.path : (route?.pattern ?? webAppRouteOf(ctx.method, ctx.path) ?? UNMATCHED);
    await next();
  };
}

export function routeOf(ctx: Context): ApiRoute | undefined {
  return ctx.state.apiRoute as ApiRoute | undefined;
}

/**
 * The JSON 404 for anything that is not exactly a known route, before the proxy: such a
 * request never reaches a service, which could answer it under another route's rules.
 */
export function knownRoutesOnly() {
  return async (ctx: Context, next: Next) => {
    if (!routeOf(ctx)) throw notFound('route');
    await next();
  };
}
