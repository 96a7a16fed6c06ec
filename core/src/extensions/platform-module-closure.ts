import { readdirSync, readFileSync, realpathSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { extname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { initSync, parse } from 'es-module-lexer';
import { dependencyClosure, findPackageDir } from '../runtime/permissions.js';

// What an extension backend gets of the SDK's dependencies (the "platform modules").
//
// The rule: a backend gets the SDK's entry points meant for it — every `exports` entry but those
// the SDK's package.json names under `mortise.platformModules.excludeExports` (the console's
// browser code, the frontend build, the test harness) — and the packages the SDK's modules reached
// from them import *statically*, each with its declared dependencies. A dynamic `import()` is how
// the SDK marks code loaded only when a command needs it (`mortise-ext build` loads webpack so), so
// it is not followed. The SDK's `dependencies` are not the rule: they hold the build tools its CLI
// runs (webpack, Module Federation, loaders, and through them rspack, typescript, esbuild), ~90 %
// of the closure, which a backend never loads and should not reach.

/** The SDK's package.json fields this module reads. */
interface SdkPackageJson {
  name?: string;
  main?: string;
  exports?: unknown;
  mortise?: { platformModules?: { excludeExports?: Record<string, string> } };
  [field: string]: unknown;
}

export interface PlatformModuleClosure {
  /** The `exports` keys a backend may import (`.`, `./backend`, ...). */
  entryPoints: string[];
  /** The SDK's package.json as staged: its `exports` limited to the entry points, no `bin`. */
  packageJson: SdkPackageJson;
  /** Real directories of the packages the entry points import, with their declared dependencies. */
  packages: string[];
}

const isModuleFile = (file: string): boolean => ['.js', '.mjs'].includes(extname(file));

/** The file an `exports` value names for Node's `import` (conditions `node`, `import`, `default`). */
function exportTarget(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return exportTarget(value[0]);
  if (value && typeof value === 'object') {
    for (const [condition, target] of Object.entries(value as Record<string, unknown>)) {
      if (['node', 'import', 'default'].includes(condition)) return exportTarget(target);
    }
  }
  return undefined;
}

/** `exports` as an object of subpaths (a bare string or conditions object is the `.` entry). */
function exportsMap(pj: SdkPackageJson): Record<string, unknown> {
  const { exports } = pj;
  if (exports === undefined) return { '.': `./${pj.main ?? 'index.js'}` };
  if (typeof exports === 'string' || Array.isArray(exports)) return { '.': exports };
  const map = exports as Record<string, unknown>;
  return Object.keys(map).some((k) => k.startsWith('.')) ? map : { '.': map };
}

/** `@scope/name/sub/path` → `@scope/name`, `name/sub` → `name`. */
const packageName = (specifier: string): string => specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/');

/** The platform modules for the SDK at `sdkDir` (its files read, nothing written). */
export function platformModuleClosure(sdkDir: string): PlatformModuleClosure {
  initSync();
  const pj = JSON.parse(readFileSync(join(sdkDir, 'package.json'), 'utf8')) as SdkPackageJson;
  const excluded = new Set(Object.keys(pj.mortise?.platformModules?.excludeExports ?? {}));
  const all = exportsMap(pj);
  const entryPoints = Object.keys(all).filter((k) => !excluded.has(k));
  const subpathFiles = (subpath: string): string[] => {
    const target = exportTarget(all[subpath]);
    if (target === undefined) return [];
    if (!target.includes('*')) return [resolve(sdkDir, target)];
    // A subpath pattern (`./x/*` → `./dist/x/*.js`): every file it can name.
    const [prefix, suffix] = [target.slice(0, target.indexOf('*')), target.slice(target.indexOf('*') + 1)];
    const base = resolve(sdkDir, prefix.slice(0, prefix.lastIndexOf('/') + 1));
    return readdirSync(base, { recursive: true, encoding: 'utf8' }).map((f) => join(base, f))
      .filter((f) => f.startsWith(join(sdkDir, prefix)) && f.endsWith(suffix));
  };

  const seen = new Set<string>();
  const names = new Set<string>();
  const pending = entryPoints.flatMap(subpathFiles).filter(isModuleFile);
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const [imports] = parse(readFileSync(file, 'utf8'), file);
    for (const { n: specifier, d } of imports) {
      if (d !== -1 || specifier === undefined || isBuiltin(specifier)) continue; // dynamic, import.meta, node:*
      if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('file:')) {
        const next = fileURLToPath(new URL(specifier, pathToFileURL(file)));
        if (isModuleFile(next)) pending.push(next);
      } else if (packageName(specifier) === pj.name) {
        // The SDK importing itself by name: its own subpath, traced like an entry point.
        pending.push(...subpathFiles(`.${specifier.slice(pj.name.length)}`).filter(isModuleFile));
      } else {
        names.add(packageName(specifier));
      }
    }
  }

  // Found the way Node finds them from the SDK's real directory (a workspace link's target).
  const sdkReal = realpathSync(sdkDir);
  const closure = new Set<string>();
  for (const name of [...names].sort()) {
    const dir = findPackageDir(name, sdkReal);
    if (dir) dependencyClosure(dir, closure);
  }
  closure.delete(sdkReal);
  const { bin: _bin, ...rest } = pj;
  const packageJson: SdkPackageJson = {
    ...rest,
    exports: Object.fromEntries(Object.entries(all).filter(([k]) => !excluded.has(k))),
  };
  return { entryPoints, packageJson, packages: [...closure].sort() };
}
