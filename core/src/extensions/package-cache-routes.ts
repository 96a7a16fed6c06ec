import Router from '@koa/router';
import type { AppContext, AppState } from '../http/app-state.js';
import type { KindRegistry } from '../registry/kind-registry.js';
import type { ResourceService } from '../registry/resource-service.js';
import { extensionsGroup } from '../schemas/extensions.js';
import { DEFAULT_PACKAGE_CACHE_MAX_BYTES, keptVersions, neededArchives, planPackages } from './package-retention.js';
import { archiveFile, type PackageStore } from './package-store.js';

/**
 * `GET /kapis/extensions.mortise.io/v1alpha1/packagecache`: what the extensions directory holds
 * — cached archives (size, last use, the plan that needs each), unpacked versions (why each is
 * kept), leftovers of interrupted steps — and the cache's limit. For admins (`list` on
 * `packagecache`); `mortise extension cache` shows it.
 */
export function packageCacheRouter(deps: { service: ResourceService; kinds: KindRegistry; packages: PackageStore; maxBytes?: number }): Router<AppState> {
  const router = new Router<AppState>();
  router.get(`/kapis/${extensionsGroup}/v1alpha1/packagecache`, async (ctx: AppContext) => {
    ctx.state.routeLabel = `kapis/${extensionsGroup}/packagecache`;
    const plans = (await deps.service.list(deps.kinds.byGroupResource(extensionsGroup, 'installplans')!, '')).items.map(planPackages);
    const needed = neededArchives(plans, archiveFile);
    const kept = new Map(plans.map((p) => [p.name, keptVersions(p)]));
    const contents = deps.packages.contents();
    const archives = contents.archives.map((a) => ({ ...a, ...(needed.has(a.file) ? { neededBy: needed.get(a.file) } : {}) }));
    ctx.body = {
      apiVersion: `${extensionsGroup}/v1alpha1`, kind: 'PackageCache',
      limitBytes: deps.maxBytes ?? DEFAULT_PACKAGE_CACHE_MAX_BYTES,
      archiveBytes: archives.reduce((n, a) => n + a.size, 0),
      archives,
      unpacked: contents.unpacked.map((u) => ({ ...u, kept: kept.get(u.name)?.get(u.version) ?? null })),
      leftovers: contents.leftovers,
    };
  });
  return router;
}
