import semver from 'semver';
import type { IndexEntry } from '@mortise/extension-sdk/repository';

/** An ExtensionVersion's object name: `<extension>-<version>`, made DNS-1123 safe. */
export function versionObjectName(extension: string, version: string): string {
  return `${extension}-${version}`.toLowerCase().replace(/[^a-z0-9.-]/g, '-').replace(/[-.]+$/, '');
}

/** Whether a version's `engines.mortise` range admits this core. */
export function isCompatible(engines: Record<string, string | undefined> | undefined, coreVersion: string): boolean {
  const range = engines?.mortise;
  if (!range) return true;
  return semver.satisfies(coreVersion, range, { includePrerelease: true });
}

export interface VersionSummary {
  version: string;
  yanked: boolean;
  compatible: boolean;
}

/** Newest first; latest = newest not yanked; recommended = newest not yanked that runs on this core. */
export function summarize(entries: IndexEntry[], coreVersion: string) {
  const versions: VersionSummary[] = [...entries]
    .sort((a, b) => semver.rcompare(a.version, b.version))
    .map((e) => ({ version: e.version, yanked: !!e.yanked, compatible: isCompatible({ mortise: e.engines?.mortise }, coreVersion) }));
  const live = versions.filter((v) => !v.yanked);
  return {
    versions,
    latestVersion: live[0]?.version,
    recommendedVersion: live.find((v) => v.compatible)?.version,
  };
}
