import { lstat, readdir, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
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

  const walk = async (absoluteDir: string): Promise<void> => {
    const entries = await readdir(absoluteDir, { withFileTypes: true });
    for (const entry of entries) {
      const absolutePath = join(absoluteDir, entry.name);
      const path = relative(dir, absolutePath).split(sep).join('/');
      if (ALWAYS_EXCLUDED_NAMES.has(entry.name)) continue;
      if (entry.isDirectory()) {
        if (excludeDirs.includes(absolutePath) || ignored(path, true)) continue;
        await walk(absolutePath);
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
  return files.sort(comparePackagePaths);
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
