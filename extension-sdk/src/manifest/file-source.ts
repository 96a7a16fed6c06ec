import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { normalizePackagePath, unsafePackagePathReason } from '../util/package-path.js';

/** Where the files a manifest refers to live: a source directory or an unpacked package. */
export interface ManifestFileSource {
  /** "the extension directory", "the package": used in messages. */
  readonly description: string;
  /** The file's bytes, or undefined when it is missing or not a regular file. */
  read(path: string): Promise<Buffer | undefined>;
}

export function directoryFileSource(dir: string, description = 'the extension directory'): ManifestFileSource {
  return {
    description,
    async read(path) {
      if (unsafePackagePathReason(path)) return undefined;
      const full = join(dir, normalizePackagePath(path));
      try {
        // lstat: a symlink is not packed, so it does not count as present.
        const stats = await lstat(full);
        return stats.isFile() ? await readFile(full) : undefined;
      } catch {
        return undefined;
      }
    },
  };
}

export function mapFileSource(files: ReadonlyMap<string, { data: Buffer }>): ManifestFileSource {
  return {
    description: 'the package',
    async read(path) {
      if (unsafePackagePathReason(path)) return undefined;
      return files.get(normalizePackagePath(path))?.data;
    },
  };
}
