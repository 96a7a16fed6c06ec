import type Router from '@koa/router';
import type { Next } from 'koa';
import type { AppContext, AppState } from './app-state.js';

/**
 * Whether a route registered on the router under `/api` or `/apis`, other than the generic ones
 * at `genericPaths`, claims a path and method (access reviews, service-account tokens). Made
 * once every route is registered.
 */
export function claimedBySpecificRoute(router: Router<AppState>, genericPaths: string[]): (method: string, path: string) => boolean {
  const specific = router.stack.filter((l) => !genericPaths.includes(String(l.path)) && /^\/apis?\//.test(String(l.path)));
  return (method, path) => specific.some((l) => l.match(path) && (l.methods.length === 0 || l.methods.includes(method)));
}

/**
 * Sends a resource request (a GET, LIST, create... of any kind) straight to the generic handler
 * mounted at `genericPaths`, unless a route of its own claims its path and method
 * (claimedBySpecificRoute). The router would answer the same, after testing its ~65 patterns and
 * composing a middleware chain on every request. Put it in front of `router.routes()`, once
 * every route is registered.
 */
export function resourceFastPath(router: Router<AppState>, genericPaths: string[], handle: (ctx: AppContext) => Promise<void>) {
  const generic = router.stack.filter((l) => genericPaths.includes(String(l.path)));
  if (generic.length !== genericPaths.length) throw new Error(`resourceFastPath: the router has no route ${genericPaths.join(' or ')}`);
  const claimed = claimedBySpecificRoute(router, genericPaths);
  return async (ctx: AppContext, next: Next) => {
    if (!ctx.state.requestInfo?.isResourceRequest) return next();
    const path = ctx.path;
    if (claimed(ctx.method, path)) return next();
    const layer = generic.find((l) => l.match(path));
    if (!layer) return next();
    // What the router sets and the access log reads for requests no handler labelled.
    (ctx as unknown as { _matchedRoute: string })._matchedRoute = String(layer.path);
    await handle(ctx);
  };
}
