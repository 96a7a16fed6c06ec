import Router from '@koa/router';
import { badRequest, notFound } from '../api/status.js';
import type { AppContext, AppState } from '../http/app-state.js';
import { logReadParams, serveLogLines } from '../http/log-lines-response.js';
import type { KindRegistry } from '../registry/kind-registry.js';
import type { ResourceService } from '../registry/resource-service.js';
import { backendKey, type BackendLogLine, type Runtime } from '../runtime/runtime.js';
import { extensionsGroup } from '../schemas/extensions.js';

const base = `/kapis/${extensionsGroup}/v1alpha1`;

/**
 * An extension backend's log, as the runtime keeps it (stdout and stderr lines, newest last, in files
 * within a size cap), like `kubectl logs`:
 * `GET /kapis/extensions.mortise.io/v1alpha1/extensions/{name}/logs?tailLines=N&follow=true&timestamps=true&version=V&sinceSeq=S&seq=true`.
 * Authorized like the other extension-management APIs (`get` on `extensions/logs`: platform
 * admins, or whoever a role grants it). The backend of the installed version by default.
 */
export function extensionLogRouter(deps: { service: ResourceService; kinds: KindRegistry; runtime: Runtime }): Router<AppState> {
  const router = new Router<AppState>();
  router.get(`${base}/extensions/:name/logs`, async (ctx: AppContext) => {
    const name = (ctx as unknown as { params: { name: string } }).params.name;
    ctx.state.routeLabel = `kapis/${extensionsGroup}/extensions/logs`;
    const params = logReadParams(ctx);
    const q = ctx.query;
    if (q.version !== undefined && typeof q.version !== 'string') throw badRequest('version must be given once');
    const plan = await deps.service.getStored(deps.kinds.byGroupResource(extensionsGroup, 'installplans')!, '', name);
    if (!plan) throw notFound(extensionsGroup, 'installplans', name);
    const status = (plan.status ?? {}) as { installedVersion?: string; targetVersion?: string };
    const version = q.version ?? status.installedVersion ?? status.targetVersion;
    if (!version) throw notFound(extensionsGroup, 'extensions/logs', `${name} (no version installed)`);
    const id = backendKey({ extension: name, version });
    await serveLogLines(ctx, {
      read: (q) => deps.runtime.logs(id, q),
      follow: (onLine) => {
        const listener = (lineId: string, l: BackendLogLine) => {
          if (lineId === id) onLine(l);
        };
        deps.runtime.on('log', listener);
        return () => deps.runtime.off('log', listener);
      },
    }, params);
  });
  return router;
}
