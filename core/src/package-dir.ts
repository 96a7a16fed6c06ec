import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The core's files beside its code (console/dist, config/crds) are found from the package's root,
// not from a module's own place: the same code runs as tsc's output (core/dist/<dir>/<file>.js)
// and as the bundle (core/dist/bundle/<chunk>.js), at different depths.

let found: string | undefined;

/** The directory of @mortise/core's package.json, searched upwards from this module. */
export function corePackageDir(): string {
  if (found) return found;
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === '@mortise/core') return (found = dir);
    if (dirname(dir) === dir) throw new Error(`no package.json of @mortise/core above ${fileURLToPath(import.meta.url)}`);
  }
}
