import type { ManifestProblem } from '../types.js';
import { describeValue } from '../../util/describe-value.js';
import { arrayItems, isRecord } from '../../util/guards.js';
import { jsonPointer } from '../../util/json-pointer.js';
import { normalizePackagePath, unsafePackagePathReason } from '../../util/package-path.js';

/** Paths that point into the package stay inside it; icons and screenshots may be https URLs. */
export function checkFileReferences(manifest: Record<string, unknown>): ManifestProblem[] {
  const problems: ManifestProblem[] = [];
  const relative = (value: unknown, path: string) => {
    if (typeof value !== 'string' || value.length === 0) return;
    const reason = unsafePackagePathReason(value);
    if (reason) problems.push({ path, message: `must be a relative path inside the package, but ${describeValue(value)} ${reason}` });
  };
  const relativeOrHttps = (value: unknown, path: string) => {
    if (typeof value !== 'string' || value.length === 0) return;
    if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(value)) {
      if (!isHttpsUrl(value)) problems.push({ path, message: `must be a relative path in the package or an https URL, got ${describeValue(value)}` });
      return;
    }
    relative(value, path);
  };

  relativeOrHttps(manifest.icon, '/icon');
  arrayItems(manifest.screenshots).forEach((s, i) => relativeOrHttps(s, jsonPointer('screenshots', i)));
  relative(manifest.readme, '/readme');

  const seenResources = new Set<string>();
  arrayItems(manifest.resources).forEach((r, i) => {
    const path = jsonPointer('resources', i);
    relative(r, path);
    if (typeof r !== 'string') return;
    if (!/\.ya?ml$/.test(r)) problems.push({ path, message: `must be a YAML file (.yaml or .yml), got ${describeValue(r)}` });
    if (seenResources.has(r)) problems.push({ path, message: `lists ${describeValue(r)} twice` });
    seenResources.add(r);
  });

  if (isRecord(manifest.backend)) relative(manifest.backend.entry, '/backend/entry');
  if (isRecord(manifest.frontend)) {
    relative(manifest.frontend.remoteEntry, '/frontend/remoteEntry');
    relative(manifest.frontend.assets, '/frontend/assets');
    problems.push(...remoteEntryInsideAssets(manifest.frontend));
  }
  return problems;
}

/** The console loads the remote entry from the public directory, so it must lie inside it. */
function remoteEntryInsideAssets(frontend: Record<string, unknown>): ManifestProblem[] {
  const { remoteEntry, assets } = frontend;
  if (typeof remoteEntry !== 'string' || typeof assets !== 'string') return [];
  if (unsafePackagePathReason(remoteEntry) || unsafePackagePathReason(assets)) return [];
  const directory = normalizePackagePath(assets);
  if (normalizePackagePath(remoteEntry).startsWith(`${directory}/`)) return [];
  return [{ path: '/frontend/remoteEntry', message: `must lie inside frontend.assets (${describeValue(assets)}), got ${describeValue(remoteEntry)}` }];
}

function isHttpsUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'https:' && url.hostname.length > 0;
  } catch {
    return false;
  }
}
