import Router from '@koa/router';
import { readObjectBody } from '../api/body.js';
import { badRequest, notFound } from '../api/status.js';
import type { DevRoutes } from '../gateway/dev-routes.js';
import { devRouteProblems } from '../gateway/dev-routes.js';
import type { AppContext, AppState } from '../http/app-state.js';
import { extensionsGroup } from '../schemas/extensions.js';

const base = `/kapis/${extensionsGroup}/v1alpha1/devroutes`;
const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * The API of development routes (`mortise-ext dev`), each the caller's own:
 * - `PUT .../devroutes/{extension}` `{url, reverseProxies, apiServices, ttlSeconds}` registers (or
 *   renews) the caller's backend for that extension's paths;
 * - `GET .../devroutes` lists the caller's; `DELETE .../devroutes/{extension}` removes one.
 * Authorized as `devroutes` in `extensions.mortise.io` (update/list/delete): platform admins, or
 * whoever a role grants it. Other users' requests never reach a developer's backend.
 */
export function devRouteRouter(devRoutes: DevRoutes): Router<AppState> {
  const router = new Router<AppState>();
  const who = (ctx: AppContext) => ctx.state.user!.username;
  const name = (ctx: AppContext) => {
    const n = (ctx as unknown as { params: { extension: string } }).params.extension;
    if (!NAME.test(n) || n.length > 63) throw badRequest(`"${n}" is not an extension name`);
    return n;
  };
  router.get(base, (ctx: AppContext) => {
    ctx.state.routeLabel = `kapis/${extensionsGroup}/devroutes`;
    ctx.body = { kind: 'DevRouteList', apiVersion: `${extensionsGroup}/v1alpha1`, items: devRoutes.list(who(ctx)).map(asObject) };
  });
  router.put(`${base}/:extension`, async (ctx: AppContext) => {
    ctx.state.routeLabel = `kapis/${extensionsGroup}/devroutes`;
    const extension = name(ctx);
    const body = await readObjectBody(ctx.req, { limit: 64 * 1024, contentType: ctx.get('content-type') });
    const { spec, problems } = devRouteProblems(extension, body);
    if (!spec) throw badRequest(`the development route for ${extension} is invalid: ${problems.join('; ')}`);
    ctx.body = asObject(devRoutes.set(who(ctx), spec));
  });
  router.delete(`${base}/:extension`, (ctx: AppContext) => {
    ctx.state.routeLabel = `kapis/${extensionsGroup}/devroutes`;
    const extension = name(ctx);
    if (!devRoutes.delete(who(ctx), extension)) throw notFound(extensionsGroup, 'devroutes', extension);
    ctx.body = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 200, details: { name: extension, group: extensionsGroup, kind: 'devroutes' } };
  });
  return router;
}

function asObject(r: ReturnType<DevRoutes['list']>[number]) {
  const { user, expiresAt, extension, ...spec } = r;
  return { kind: 'DevRoute', apiVersion: `${extensionsGroup}/v1alpha1`, metadata: { name: extension }, spec: { extension, ...spec }, status: { user, expiresAt } };
}
