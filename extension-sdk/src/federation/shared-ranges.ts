import semver from 'semver';
import { packageOf, sharedModules } from '../console/shared-modules.js';

/** One shared module an extension asks for in a version the console cannot give it. */
export interface SharedRangeProblem {
  module: string;
  /** The range in the extension's package.json. */
  extensionRange: string;
  /** The version the console ships and the range remotes are built against. */
  hostVersion: string;
  hostRange: string;
}

/**
 * Checks an extension's dependencies on shared packages against the console's table: the
 * version the host ships must satisfy the extension's range, or the extension would get a
 * second copy (or break the singleton) at runtime.
 */
export function sharedRangeProblems(dependencies: Record<string, string>): SharedRangeProblem[] {
  const problems: SharedRangeProblem[] = [];
  const seen = new Set<string>();
  for (const [module, shared] of Object.entries(sharedModules)) {
    const pkg = packageOf(module);
    const range = dependencies[pkg];
    if (!range || seen.has(pkg)) continue;
    seen.add(pkg);
    // Workspace and file links are the SDK itself (or a local copy): nothing to compare.
    if (/^(workspace:|file:|link:)/.test(range)) continue;
    if (!semver.validRange(range) || !semver.satisfies(shared.version, range)) {
      problems.push({ module: pkg, extensionRange: range, hostVersion: shared.version, hostRange: shared.requiredVersion });
    }
  }
  return problems;
}

export function describeSharedRangeProblem(p: SharedRangeProblem): string {
  return `shared module "${p.module}": the extension asks for "${p.extensionRange}" but the console provides ${p.hostVersion} (remotes must accept "${p.hostRange}")`;
}

/** The `shared` option of the console host: every module a singleton, loaded on demand. */
export function hostShared(): Record<string, { singleton: true; requiredVersion: string; version?: string }> {
  return Object.fromEntries(Object.entries(sharedModules).map(([m, s]) => [m, { singleton: true, requiredVersion: s.requiredVersion }]));
}

/**
 * The `shared` option of an extension: the same singletons, never bundled as a fallback
 * (`import: false`), so an extension always uses the console's copy.
 */
export function remoteShared(): Record<string, { singleton: true; requiredVersion: string; import: false }> {
  return Object.fromEntries(Object.entries(sharedModules).map(([m, s]) => [m, { singleton: true, requiredVersion: s.requiredVersion, import: false }]));
}
