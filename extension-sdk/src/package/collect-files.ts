import { existsSync } from 'node:fs';
import { lstat, readdir, readFile, realpath } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { MANIFEST_FILE_NAME } from '../manifest/types.js';
import { PackageError } from './errors.js';
import { ALWAYS_EXCLUDED_NAMES, IGNORE_FILE_NAME, parseIgnoreRules, type IgnoreMatcher } from './ignore-rules.js';
import { formatBytes, type PackageLimits } from './limits.js';

export interface SourceFile {
  /** Relative, "/"-separated. */
  path: string;
  absolutePath: string;
  executable: boolean;
  size: number;
}

/**
 * The files of an extension directory that go into its package, in package order:
 * extension.yaml first, then by the bytes of their UTF-8 paths. Directories in `excludeDirs`
 * (e.g. an output directory inside the source) are skipped. Symlinks and special files are
 * refused rather than silently followed or dropped.
 */
export async function collectPackageFiles(
  dir: string,
  limits: PackageLimits,
  excludeDirs: string[] = [],
): Promise<SourceFile[]> {
  const ignored = await loadIgnoreMatcher(dir);
  const files: SourceFile[] = [];
  let totalSize = 0;

  // `root` is where the files are read, `prefix` where they land in the package.
  const walk = async (absoluteDir: string, root = dir, prefix = ''): Promise<void> => {
    const entries = await readdir(absoluteDir, { withFileTypes: true });
    for (const entry of entries) {
      const absolutePath = join(absoluteDir, entry.name);
      const path = prefix + relative(root, absolutePath).split(sep).join('/');
      if (ALWAYS_EXCLUDED_NAMES.has(entry.name)) continue;
      if (entry.isDirectory()) {
        if (excludeDirs.includes(absolutePath) || ignored(path, true)) continue;
        await walk(absolutePath, root, prefix);
      } else if (entry.isFile()) {
        if (ignored(path, false)) continue;
        const stats = await lstat(absolutePath);
        if (stats.size > limits.maxFileSize) {
          throw new PackageError('TOO_LARGE', `file "${path}" is ${formatBytes(stats.size)}, more than the ${formatBytes(limits.maxFileSize)} allowed per file`);
        }
        totalSize += stats.size;
        if (totalSize > limits.maxTotalSize) {
          throw new PackageError('TOO_LARGE', `the files to pack exceed the ${formatBytes(limits.maxTotalSize)} allowed per package`);
        }
        files.push({ path, absolutePath, executable: (stats.mode & 0o111) !== 0, size: stats.size });
        if (files.length > limits.maxFiles) {
          throw new PackageError('TOO_MANY_FILES', `more than ${limits.maxFiles} files to pack`);
        }
      } else if (!ignored(path, false)) {
        const kind = entry.isSymbolicLink() ? 'a symbolic link' : 'not a regular file';
        throw new PackageError('UNSUPPORTED_ENTRY', `"${path}" is ${kind}; packages hold regular files only (list it in ${IGNORE_FILE_NAME} to leave it out)`);
      }
    }
  };
  await walk(dir);
  // npm's `bundleDependencies`: those packages and what they depend on, flattened under node_modules/.
  for (const dep of await bundledDependencies(dir, ignored)) await walk(dep.dir, dep.dir, `node_modules/${dep.name}/`);
  return files.sort(comparePackagePaths);
}

/**
 * The packages named in package.json's `bundleDependencies` (or `bundledDependencies`) and their
 * production dependencies (optional ones when installed), as Node would resolve them from the
 * extension's directory — one copy per name, flattened. Workspace links are followed to the real
 * directory. A bundled package that is not installed is an error: the backend would not start.
 * A package whose `node_modules/<name>/` directory `.mortiseignore` leaves out is skipped with
 * its dependencies (e.g. an install-time helper).
 */
export async function bundledDependencies(dir: string, ignored: IgnoreMatcher = () => false): Promise<Array<{ name: string; dir: string }>> {
  const pkg = await readJson(join(dir, 'package.json'));
  const named = pkg?.bundleDependencies ?? pkg?.bundledDependencies;
  if (!Array.isArray(named)) return [];
  const out = new Map<string, string>();
  const visit = async (name: string, from: string, optional: boolean): Promise<void> => {
    if (out.has(name) || ignored(`node_modules/${name}`, true)) return;
    const found = resolvePackageDir(name, from);
    if (!found) {
      if (optional) return;
      throw new PackageError('MISSING_DEPENDENCY', `the bundled dependency "${name}" is not installed (run npm install in ${dir})`);
    }
    const real = await realpath(found);
    out.set(name, real);
    const meta = await readJson(join(real, 'package.json'));
    for (const d of Object.keys(meta?.dependencies ?? {})) await visit(d, found, false);
    for (const d of Object.keys(meta?.optionalDependencies ?? {})) await visit(d, found, true);
  };
  for (const name of named) if (typeof name === 'string') await visit(name, dir, false);
  return [...out].map(([name, d]) => ({ name, dir: d }));
}

/** Node's lookup: `<dir>/node_modules/<name>` from `from` up to the root. */
function resolvePackageDir(name: string, from: string): string | undefined {
  for (let d = from; ; d = dirname(d)) {
    const candidate = join(d, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(d) === d) return undefined;
  }
}

async function readJson(file: string): Promise<Record<string, any> | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Record<string, any>;
  } catch {
    return undefined;
  }
}

/** extension.yaml first, then byte order of UTF-8 paths (locale-independent, so reproducible). */
export function comparePackagePaths(a: { path: string }, b: { path: string }): number {
  if (a.path === b.path) return 0;
  if (a.path === MANIFEST_FILE_NAME) return -1;
  if (b.path === MANIFEST_FILE_NAME) return 1;
  return Buffer.compare(Buffer.from(a.path, 'utf8'), Buffer.from(b.path, 'utf8'));
}

async function loadIgnoreMatcher(dir: string): Promise<IgnoreMatcher> {
  try {
    return parseIgnoreRules(await readFile(join(dir, IGNORE_FILE_NAME), 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return () => false;
    throw error;
  }
}
