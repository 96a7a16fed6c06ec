import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { sha256File, sha256Hex } from './digest.js';
import { PackageError } from './errors.js';
import { formatBytes, type PackageLimits } from './limits.js';

/** A package's compressed bytes, checked, ready to be streamed (as often as needed). */
export interface PackageInput {
  sha256: string;
  /** Size of the compressed package in bytes. */
  size: number;
  chunks(): AsyncIterable<Buffer>;
}

/**
 * A package given as bytes or as a file no larger than the limit, with its digest checked
 * against `expectedSha256` before anything reads its content. A file is hashed and later read
 * as a stream, never held in memory. (Between the two reads the file could change; only the
 * core writes its data directory, so that is not a way in.)
 */
export async function openPackageInput(source: Buffer | string, limits: PackageLimits, expectedSha256: string | undefined): Promise<PackageInput> {
  const size = typeof source === 'string' ? await boundedFileSize(source, limits.maxPackageSize) : source.length;
  if (size > limits.maxPackageSize) throw tooLarge(size, limits.maxPackageSize);
  const sha256 = typeof source === 'string' ? await hashFile(source) : sha256Hex(source);
  if (expectedSha256 !== undefined && expectedSha256.toLowerCase() !== sha256) {
    throw new PackageError('DIGEST_MISMATCH', `package sha256 is ${sha256}, expected ${expectedSha256}`);
  }
  const chunks = typeof source === 'string'
    ? () => createReadStream(source, { highWaterMark: 64 * 1024 }) as AsyncIterable<Buffer>
    : async function* () { yield source; };
  return { sha256, size, chunks };
}

async function boundedFileSize(path: string, maxSize: number): Promise<number> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw new PackageError('IO_ERROR', `cannot open package ${path}: ${(error as Error).message}`);
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new PackageError('IO_ERROR', `${path} is not a file`);
    if (stats.size > maxSize) throw tooLarge(stats.size, maxSize);
    return stats.size;
  } finally {
    await handle.close();
  }
}

async function hashFile(path: string): Promise<string> {
  try {
    return await sha256File(path);
  } catch (error) {
    throw new PackageError('IO_ERROR', `cannot read package ${path}: ${(error as Error).message}`);
  }
}

function tooLarge(size: number, maxSize: number): PackageError {
  return new PackageError('TOO_LARGE', `package is ${formatBytes(size)}, more than the ${formatBytes(maxSize)} allowed`);
}
