import { join } from 'node:path';
import type { LocalPackage } from '../runtime/process-runtime-options.js';
import type { BackendSpec } from '../runtime/runtime.js';
import { isPathInside } from '../runtime/permissions.js';
import type { PackageStore } from './package-store.js';

/**
 * How ProcessRuntime finds a backend's package on the core's disk: the PackageStore's unpacked
 * version (unpacked again from the cached archive, digest checked, if it is not there with that
 * digest), the extension's data directory, and the platform modules it may read.
 */
export function localPackages(packages: PackageStore, platformModules: () => Promise<string>): (spec: BackendSpec) => Promise<LocalPackage> {
  return async (spec) => {
    const pkg = spec.package!;
    const { dir } = await packages.unpack(spec.extension, spec.version, pkg.digest);
    const entry = join(dir, pkg.entry);
    if (!isPathInside(entry, dir)) throw new Error(`the entry ${pkg.entry} is outside the package`);
    return { entry, packageDir: dir, dataDir: packages.dataDir(spec.extension), readOnlyPaths: [await platformModules()] };
  };
}
