import { open } from 'node:fs/promises';
import { sha256Hex } from './digest.js';
import { PackageError } from './errors.js';
import { formatBytes, type PackageLimits } from './limits.js';

export interface LoadedPackageBytes {
  bytes: Buffer;
  sha256: string;
}

/**
 * The compressed bytes of a package (given, or read from a file no larger than the limit),
 * with their digest checked against `expectedSha256` when one is given.
 */
export async function loadPackageBytes(
  source: Buffer | string,
  limits: PackageLimits,
  expectedSha256: string | undefined,
): Promise<LoadedPackageBytes> {
  const bytes = typeof source === 'string' ? await readBoundedFile(source, limits.maxPackageSize) : source;
  if (bytes.length > limits.maxPackageSize) {
    throw new PackageError('TOO_LARGE', `package is ${formatBytes(bytes.length)}, more than the ${formatBytes(limits.maxPackageSize)} allowed`);
  }
  const sha256 = sha256Hex(bytes);
  if (expectedSha256 !== undefined && expectedSha256.toLowerCase() !== sha256) {
    throw new PackageError('DIGEST_MISMATCH', `package sha256 is ${sha256}, expected ${expectedSha256}`);
  }
  return { bytes, sha256 };
}

async function readBoundedFile(path: string, maxSize: number): Promise<Buffer> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw new PackageError('IO_ERROR', `cannot open package ${path}: ${(error as Error).message}`);
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new PackageError('IO_ERROR', `${path} is not a file`);
    if (stats.size > maxSize) {
      throw new PackageError('TOO_LARGE', `package is ${formatBytes(stats.size)}, more than the ${formatBytes(maxSize)} allowed`);
    }
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}
