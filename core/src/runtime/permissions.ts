import { execFile } from 'node:child_process';
import { lstatSync, readdirSync, readFileSync, realpathSync, statSync, type Dirent } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative } from 'node:path';

// Confining extension backends with Node's permission model (`--experimental-permission` on
// Node 20, `--permission` from Node 22.13/23.5).
//
// What Node 20.20 does, checked by experiment (core/test/runtime.test.ts keeps the parts we rely on):
// - `--allow-fs-read=a,b` is NOT a list any more: Node warns "Passing a comma-separated list of
//   paths is no longer valid" and takes the whole string as one path. Each path needs its own
//   repeated `--allow-fs-read=` / `--allow-fs-write=` flag.
// - A directory grants everything below it (a trailing `/` or `/*` makes no difference); a path
//   is not a string prefix: `/x/pk` does not grant `/x/pkg`.
// - The ESM loader reads a module at its *real* path: a dependency reached through a symlink in
//   `<packageDir>/node_modules` (the SDK the installer links to the core's copy) is only
//   loadable when its real directory is allowed, and the same holds for the dependencies of
//   that dependency, wherever the real directory's lookup finds them.
// - The check is made on the path as the program wrote it, normalised lexically, while the
//   kernel follows symlinks. So a *directory symlink inside an allowed directory* lets `..`
//   escape: with `<pkg>` allowed and `<pkg>/node_modules/@mortise/extension-sdk -> /repo/extension-sdk`,
//   the path `<pkg>/node_modules/@mortise/extension-sdk/../../../etc/passwd` is `<pkg>/etc/passwd`
//   to the check and `/etc/passwd` to the kernel. Node documents this ("symbolic links will be
//   followed even to locations outside the set of paths that access has been granted to").
//   Creating symlinks is denied to a confined process (Node 20.20), so only links that already
//   exist matter. Consequences here:
//     * we never allow the monorepo's `node_modules` as a whole: it holds the npm-workspace links
//       (`@mortise/core -> ../../core`, ...), through which `node_modules/@mortise/core/../../main/`
//       reads the whole repository, the core's default data dir (`./.mortise`, with its database
//       and signing keys) included. Instead we allow, one by one, the real directories of the
//       packages the linked dependencies declare (dependencies, optionalDependencies,
//       peerDependencies, transitively), found the way Node's resolver finds them. For the SDK
//       that is ajv, ajv-formats, commander, semver, tar, yaml and their dependencies.
//     * a directory symlink inside the package or data dir (an SDK link) still lets reads
//       escape; `directorySymlinks` finds them so the runtime can say so in its log. The
//       installer therefore never symlinks: it hard-links (or copies) the SDK's backend part and
//       the packages it imports into `<unpacked>/node_modules` (extensions/platform-modules.ts; a hard link
//       is the file itself, nothing for `..` to traverse), and packages cannot hold
//       links (the unpacker refuses them), so an installed backend has no such link. Writes are
//       unaffected: the data dir holds no links the backend could not create itself, and it
//       cannot create any.
//     * the same mismatch works through a directory symlink *outside* the allowed directories
//       when its lexical ancestors hold one: `<L>/../../<rest>` is `dirname²(L)/<rest>` to the
//       check and `dirname²(target of L)/<rest>` to the kernel. It needs a "parallel tree": a
//       directory below the link's target side with the same names as an allowed one. Linked
//       dependencies make one: with `<repo>/node_modules/koa` allowed (linked SDK closure) and
//       the repository itself in a directory named `koa`, the workspace link
//       `<repo>/node_modules/@mortise/core -> ../../core` turns
//       `<repo>/node_modules/@mortise/core/../../koa/x` into `<repo>/x` (found by
//       core/test/runtime.test.ts when cloned into `.../koa`). Installed backends read only
//       their package, their data dir and the copied platform modules, all under the data root,
//       which holds no links, so no parallel tree leads into them short of another install
//       with the same layout two levels up; linked dependencies stay a development setup that
//       the runtime warns about.
// - Child processes, worker threads, WASI and inspector are denied unless allowed by a flag; we
//   never pass those flags. Network access is not covered by Node 20's model (a backend must
//   reach the core), only Node 25's `--allow-net`, which we pass when the binary knows it.
// - `NODE_OPTIONS` in the child's environment is honoured and can add `--allow-fs-read=/`:
//   the runtime never passes it through to a confined backend.

export interface FsAllowList {
  read: string[];
  write: string[];
  /** Directory symlinks inside allowed directories: each lets `..` reach outside (see above). */
  symlinkHazards: string[];
}

const isDir = (p: string): boolean => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};

const realOrSelf = (p: string): string => {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
};

const isInside = (child: string, parent: string): boolean => {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
};

/** Where Node's resolver finds package `name` starting from directory `from`. */
export function findPackageDir(name: string, from: string): string | undefined {
  for (let d = from; ; d = dirname(d)) {
    if (basename(d) !== 'node_modules') {
      const candidate = join(d, 'node_modules', ...name.split('/'));
      if (isDir(candidate)) return candidate;
    }
    if (dirname(d) === d) return undefined;
  }
}

function declaredDependencies(pkgDir: string): string[] {
  try {
    const pj = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as Record<string, unknown>;
    const names = new Set<string>();
    for (const field of ['dependencies', 'optionalDependencies', 'peerDependencies']) {
      const deps = pj[field];
      if (deps && typeof deps === 'object') for (const n of Object.keys(deps)) names.add(n);
    }
    return [...names];
  } catch {
    return [];
  }
}

/** The real directories of `pkgDir` and of every package it declares, transitively. */
export function dependencyClosure(pkgDir: string, into: Set<string> = new Set()): Set<string> {
  const real = realOrSelf(pkgDir);
  if (into.has(real)) return into;
  into.add(real);
  for (const name of declaredDependencies(real)) {
    const found = findPackageDir(name, real);
    if (found) dependencyClosure(found, into);
  }
  return into;
}

/** The entries of a node_modules directory, scoped packages (`@scope/name`) expanded. */
function nodeModulesEntries(dir: string): string[] {
  const out: string[] = [];
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    if (e.name.startsWith('.')) continue; // .bin, .package-lock.json
    const p = join(dir, e.name);
    if (e.name.startsWith('@') && e.isDirectory()) {
      try {
        for (const s of readdirSync(p)) out.push(join(p, s));
      } catch {
        // unreadable scope: nothing to allow
      }
    } else {
      out.push(p);
    }
  }
  return out;
}

/**
 * Directory symlinks under `root` (not following links; at most `limit` entries visited):
 * each one is a way out of the permission model's read confinement.
 */
export function directorySymlinks(root: string, limit = 20_000): string[] {
  const found: string[] = [];
  const stack = [root];
  let visited = 0;
  while (stack.length > 0 && visited < limit) {
    const dir = stack.pop()!;
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      if (++visited > limit) break;
      const p = join(dir, e.name);
      if (e.isSymbolicLink()) {
        if (isDir(p)) found.push(p);
      } else if (e.isDirectory()) {
        stack.push(p);
      }
    }
  }
  return found.sort();
}

/** Drops paths already covered by another path in the list (a directory grants its subtree). */
function minimise(paths: Iterable<string>): string[] {
  const sorted = [...new Set(paths)].sort((a, b) => a.length - b.length || a.localeCompare(b));
  const kept: string[] = [];
  for (const p of sorted) if (!kept.some((k) => isInside(p, k))) kept.push(p);
  return kept.sort();
}

/**
 * What a backend may read and write: its package (as given and at its real path), its data
 * dir, and the real directories of the dependencies its `node_modules` links to, with their
 * declared dependencies; writes only to the data dir.
 */
export function fsAllowList(spec: { packageDir: string; dataDir: string; readOnlyPaths?: string[] }): FsAllowList {
  const read = new Set<string>();
  const write = new Set<string>();
  for (const p of spec.readOnlyPaths ?? []) for (const q of [p, realOrSelf(p)]) read.add(q);
  for (const p of [spec.packageDir, realOrSelf(spec.packageDir)]) read.add(p);
  for (const p of [spec.dataDir, realOrSelf(spec.dataDir)]) {
    read.add(p);
    write.add(p);
  }
  const pkgReal = realOrSelf(spec.packageDir);
  const closure = new Set<string>();
  for (const entry of nodeModulesEntries(join(spec.packageDir, 'node_modules'))) {
    let linked: boolean;
    try {
      linked = lstatSync(entry).isSymbolicLink();
    } catch {
      continue;
    }
    if (!linked || !isDir(entry)) continue; // a copied dependency is inside the package already
    const real = realOrSelf(entry);
    if (isInside(real, pkgReal)) continue;
    dependencyClosure(real, closure);
  }
  for (const p of closure) read.add(p);
  const symlinkHazards = [...new Set([spec.packageDir, spec.dataDir, ...(spec.readOnlyPaths ?? [])].flatMap((root) => directorySymlinks(root)))];
  return { read: minimise(read), write: minimise(write), symlinkHazards };
}

export interface NodeFlagSupport {
  /** `--permission` or `--experimental-permission`, or undefined when the binary has neither. */
  permission?: string;
  disableWarning: boolean;
  /** `--allow-addons` (Node ≥ 20.19 / 21.6): native addons under the permission model. */
  allowAddons?: boolean;
  allowNet: boolean;
  import: boolean;
}

const flagSupport = (has: (flag: string) => boolean): NodeFlagSupport => ({
  permission: has('--permission') ? '--permission' : has('--experimental-permission') ? '--experimental-permission' : undefined,
  disableWarning: has('--disable-warning'),
  allowNet: has('--allow-net'),
  allowAddons: has('--allow-addons'),
  import: has('--import'),
});

const PROBED = ['--permission', '--experimental-permission', '--disable-warning', '--allow-net', '--allow-addons', '--import'];

/** Which of the flags we use the node binary at `nodePath` knows (asked once per binary). */
export function probeNodeFlags(nodePath: string): Promise<NodeFlagSupport> {
  if (realOrSelf(nodePath) === realOrSelf(process.execPath)) {
    return Promise.resolve(flagSupport((f) => process.allowedNodeEnvironmentFlags.has(f)));
  }
  return new Promise((resolve) => {
    const script = `process.stdout.write(JSON.stringify(${JSON.stringify(PROBED)}.filter((f) => process.allowedNodeEnvironmentFlags.has(f))))`;
    execFile(nodePath, ['-e', script], { env: { PATH: process.env.PATH ?? '' }, timeout: 10_000 }, (err, stdout) => {
      let known: string[] = [];
      if (!err) {
        try {
          known = JSON.parse(stdout) as string[];
        } catch {
          known = [];
        }
      }
      resolve(flagSupport((f) => known.includes(f)));
    });
  });
}

/** Whether `child` is `parent` or below it. */
export const isPathInside = isInside;
