import { DEFAULT_HEALTH_PATH, DEFAULT_README, type ExtensionManifest } from './types.js';

/** A copy of a valid manifest with the schema's defaults filled in (readme, backend.healthPath). */
export function withManifestDefaults(manifest: ExtensionManifest): ExtensionManifest {
  const copy = structuredClone(manifest);
  copy.readme ??= DEFAULT_README;
  if (copy.backend) copy.backend.healthPath ??= DEFAULT_HEALTH_PATH;
  return copy;
}
