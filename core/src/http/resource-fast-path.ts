import type Router from '@koa/router';
import type { Next } from 'koa';
import type { AppContext, AppState } from './app-state.js';

/**
 * Sends a resource request (a GET, LIST, create... of any kind) straight to the generic handler
 * mounted at `genericPaths`, unless a route registered on the router under `/api` or `/apis`
 * claims its path and method (access reviews, service-account tokens). The router would answer
 * the same, after testing its ~65 patterns and composing a middleware chain on every request.
 * Put it in front of `router.routes()`, once every route is registered.
 */
export function resourceFastPath(router: Router<AppState>, genericPaths: string[], handle: (ctx: AppContext) => Promise<void>) {
  const generic = router.stack.filter((l) => genericPaths.includes(String(l.path)));
  if (generic.length !== genericPaths.length) throw new Error(`resourceFastPath: the router has no route ${genericPaths.join(' or ')}`);
  const specific = router.stack.filter((l) => !generic.includes(l) && /^\/apis?\//.test(String(l.path)));
  return async (ctx: AppContext, next: Next) => {
    if (!ctx.state.requestInfo?.isResourceRequest) return next();
    const path = ctx.path;
    if (specific.some((l) => l.match(path) && (l.methods.length === 0 || l.methods.includes(ctx.method)))) return next();
    const layer = generic.find((l) => l.match(path));
    if (!layer) return next();
    // What the router sets and the access log reads for requests no handler labelled.
    (ctx as unknown as { _matchedRoute: string })._matchedRoute = String(layer.path);
    await handle(ctx);
  };
}
