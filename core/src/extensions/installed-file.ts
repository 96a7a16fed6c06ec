import { lstat, readFile, realpath } from 'node:fs/promises';
import { join, sep } from 'node:path';

/**
 * A file of an unpacked package, read only when it is a regular file inside the package's
 * directory (packages hold no links — the unpacker refuses them — checked again in case the
 * directory was altered) and at most `maxBytes` long. Undefined when there is no such file;
 * 'too-large' when it is longer.
 */
export async function readInstalledFile(root: string, path: string, maxBytes: number): Promise<Buffer | 'too-large' | undefined> {
  const file = join(root, path);
  try {
    const stats = await lstat(file);
    if (!stats.isFile() || !(await realpath(file)).startsWith((await realpath(root)) + sep)) return undefined;
    if (stats.size > maxBytes) return 'too-large';
    return await readFile(file);
  } catch {
    return undefined;
  }
}
