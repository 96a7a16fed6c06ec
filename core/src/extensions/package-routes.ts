import { createReadStream, statSync } from 'node:fs';
import Router from '@koa/router';
import type { Logger } from 'pino';
import { badRequest, notFound, serviceUnavailable } from '../api/status.js';
import type { AppContext, AppState } from '../http/app-state.js';
import type { KindRegistry } from '../registry/kind-registry.js';
import type { ResourceService } from '../registry/resource-service.js';
import { extensionsGroup } from '../schemas/extensions.js';
import { keptVersions, planPackages } from './package-retention.js';
import type { PackageStore } from './package-store.js';
import { resolveVersionSource } from './version-source.js';

const base = `/kapis/${extensionsGroup}/v1alpha1`;

/** Where the core serves the archive of `name` `version` (what a backend's `package.url` is). */
export function packageUrl(coreUrl: string, name: string, version: string): string {
  return `${coreUrl.replace(/\/+$/, '')}${base}/extensions/${encodeURIComponent(name)}/package?version=${encodeURIComponent(version)}`;
}

/**
 * `GET /kapis/extensions.mortise.io/v1alpha1/extensions/{name}/package?version=V`: the package
 * archive of a version its InstallPlan keeps (running, previous or being installed), as the
 * repository offered it — for a backend that runs away from the core's disk (the stock Node runner
 * in a pod), which checks it against the digest in its spec. Authorized as `get` on
 * `extensions/package` (each extension's service account may get its own; see
 * extension-resources.ts). A replica whose cache lacks it downloads it from the repository first
 * (digest checked).
 */
export function extensionPackageRouter(deps: { service: ResourceService; kinds: KindRegistry; packages: PackageStore; logger: Logger }): Router<AppState> {
  const router = new Router<AppState>();
  router.get(`${base}/extensions/:name/package`, async (ctx: AppContext) => {
    const name = (ctx as unknown as { params: { name: string } }).params.name;
    ctx.state.routeLabel = `kapis/${extensionsGroup}/extensions/package`;
    const version = ctx.query.version;
    if (typeof version !== 'string' || version === '') throw badRequest('version must be given once, e.g. ?version=1.0.0');
    const plan = await deps.service.getStored(deps.kinds.byGroupResource(extensionsGroup, 'installplans')!, '', name);
    if (!plan) throw notFound(extensionsGroup, 'installplans', name);
    if (!keptVersions(planPackages(plan)).has(version)) throw notFound(extensionsGroup, 'extensions/package', `${name} ${version} (not a version its InstallPlan runs, keeps or installs)`);
    let archive: string;
    try {
      archive = await deps.packages.download(await resolveVersionSource(deps.service, deps.kinds, name, version));
    } catch (e) {
      // The repository is away: what the cache holds was checked when it was downloaded.
      archive = deps.packages.archivePath(name, version);
      if (!statSync(archive, { throwIfNoEntry: false })?.isFile()) {
        deps.logger.warn({ event: 'extension.package-serve-failed', extension: name, version, err: (e as Error).message }, 'a package asked for could not be fetched');
        throw serviceUnavailable(`the package of ${name} ${version} is not in this core's cache and could not be fetched from its repository: ${(e as Error).message}`);
      }
    }
    ctx.type = 'application/gzip';
    ctx.set('Cache-Control', 'private, no-store');
    ctx.length = statSync(archive).size;
    ctx.body = createReadStream(archive);
  });
  return router;
}
