import type { KubeObject } from '../store/resource-store.js';

/**
 * The retention rule for packages on disk. Unpacked versions: an extension keeps the version it
 * runs, one previous version (to roll back to without unpacking again) and, while an install or
 * upgrade is under way, the version being installed; nothing else. Cached archives: at most
 * `MORTISE_PACKAGE_CACHE_MAX_BYTES` in total, least recently used evicted first, but never an
 * archive of a version some plan runs, keeps for rollback or is installing.
 */

export const DEFAULT_PACKAGE_CACHE_MAX_BYTES = 1024 * 1024 * 1024;

export interface PlanPackages {
  name: string;
  installedVersion?: string;
  previousVersion?: string;
  targetVersion?: string;
  /** An install or upgrade is under way (or waiting to start). */
  installing: boolean;
}

const failedStates = new Set(['InstallFailed', 'UpgradeFailed']);

export function planPackages(plan: KubeObject): PlanPackages {
  const spec = (plan.spec ?? {}) as { extension?: { version?: string } };
  const status = (plan.status ?? {}) as { state?: string; installedVersion?: string; previousVersion?: string; targetVersion?: string };
  const targetVersion = spec.extension?.version ?? status.targetVersion;
  // Being uninstalled: it needs nothing any more.
  if (plan.metadata.deletionTimestamp) return { name: plan.metadata.name!, installing: false };
  return {
    name: plan.metadata.name!,
    installedVersion: status.installedVersion,
    previousVersion: status.previousVersion,
    targetVersion,
    installing: targetVersion !== status.installedVersion && !failedStates.has(status.state ?? ''),
  };
}

/** Why each version of a plan is kept: "running", "previous", "installing". */
export function keptVersions(plan: PlanPackages): Map<string, 'running' | 'previous' | 'installing'> {
  const kept = new Map<string, 'running' | 'previous' | 'installing'>();
  if (plan.installing && plan.targetVersion) kept.set(plan.targetVersion, 'installing');
  if (plan.previousVersion) kept.set(plan.previousVersion, 'previous');
  if (plan.installedVersion) kept.set(plan.installedVersion, 'running');
  return kept;
}

/** The archive file names no eviction may touch, with the plan that needs each. */
export function neededArchives(plans: PlanPackages[], archiveFile: (name: string, version: string) => string): Map<string, string> {
  const needed = new Map<string, string>();
  for (const plan of plans) {
    const versions = new Set(keptVersions(plan).keys());
    // A failed install keeps its archive too: a retry should not download it again.
    if (plan.targetVersion) versions.add(plan.targetVersion);
    for (const version of versions) needed.set(archiveFile(plan.name, version), plan.name);
  }
  return needed;
}
