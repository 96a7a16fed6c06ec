import type { Logger } from 'pino';
import type { KindDefinition } from '../registry/kind.js';
import type { ResourceService } from '../registry/resource-service.js';
import { archiveFile, type PackageStore } from './package-store.js';
import { DEFAULT_PACKAGE_CACHE_MAX_BYTES, keptVersions, neededArchives, planPackages } from './package-retention.js';

export interface PackageTidyDeps {
  service: ResourceService;
  planDef: KindDefinition;
  packages: PackageStore;
  logger: Logger;
  packageCacheMaxBytes?: number;
}

/**
 * Applies the retention rule (package-retention.ts): reclaims temporary archives and staging
 * directories no step in progress owns, prunes unpacked versions no plan keeps, and caps the
 * archive cache. Never fails a reconcile: what it cannot remove now it removes next time.
 */
export async function tidyPackages(d: PackageTidyDeps): Promise<void> {
  try {
    const plans = (await d.service.store.list(d.service.ref(d.planDef))).items.map(planPackages);
    const reclaimed = d.packages.reclaimLeftovers();
    const pruned: string[] = [];
    const byName = new Map(plans.map((p) => [p.name, p]));
    for (const name of d.packages.unpackedNames()) {
      const plan = byName.get(name);
      const keep = new Set(plan ? keptVersions(plan).keys() : []);
      pruned.push(...d.packages.pruneUnpacked(name, keep).map((v) => `${name}@${v}`));
    }
    const evicted = d.packages.limitArchives(d.packageCacheMaxBytes ?? DEFAULT_PACKAGE_CACHE_MAX_BYTES, new Set(neededArchives(plans, archiveFile).keys()));
    if (reclaimed.length || pruned.length || evicted.length) {
      d.logger.info({ event: 'extension.packages-tidied', reclaimed, pruned, evicted }, 'removed package files no plan needs');
    }
  } catch (e) {
    d.logger.warn({ event: 'extension.packages-tidy-failed', err: (e as Error).message }, 'tidying package files failed');
  }
}
