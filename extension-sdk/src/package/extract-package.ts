import { mkdir, mkdtemp, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { directoryFileSource } from '../manifest/file-source.js';
import type { ExtensionManifest } from '../manifest/types.js';
import { MANIFEST_FILE_NAME } from '../manifest/types.js';
import { PackageError } from './errors.js';
import { resolveLimits } from './limits.js';
import { openPackageInput } from './package-source.js';
import { validatePackagedManifest, type ReadPackageOptions } from './read-package.js';
import { scanPackageEntries } from './scan-entries.js';

export interface ExtractedPackage {
  dir: string;
  manifest: ExtensionManifest;
  sha256: string;
  /** Normalized paths of the files written. */
  files: string[];
}

/**
 * Unpacks an untrusted package into `destDir`, which must not exist yet. Files go to a
 * temporary directory beside it, which is renamed into place only once every entry and the
 * manifest passed; on any failure nothing is left behind.
 */
export async function extractPackage(source: Buffer | string, destDir: string, options: ReadPackageOptions = {}): Promise<ExtractedPackage> {
  const limits = resolveLimits(options);
  const destination = resolve(destDir);
  if (await exists(destination)) {
    throw new PackageError('DESTINATION_EXISTS', `cannot extract into ${destination}: it already exists`);
  }
  const input = await openPackageInput(source, limits, options.expectedSha256);

  await mkdir(dirname(destination), { recursive: true });
  const staging = await mkdtemp(join(dirname(destination), `.${basename(destination)}.partial-`));
  try {
    const written: string[] = [];
    const inside = (path: string) => {
      const target = resolve(staging, path);
      // Entry paths are already checked; this guards the guarantee itself.
      if (!target.startsWith(staging + sep)) throw new PackageError('UNSAFE_PATH', `package entry "${path}" escapes the destination`);
      return target;
    };
    await scanPackageEntries(input.chunks(), limits, {
      onDirectory: async (path) => void (await mkdir(inside(path), { recursive: true, mode: 0o755 })),
      onFile: async (file) => {
        const target = inside(file.path);
        await mkdir(dirname(target), { recursive: true, mode: 0o755 });
        // 'wx': never write through something that already exists at that path. Streamed: a
        // large entry is never held in memory.
        const handle = await open(target, 'wx', file.mode);
        try {
          for await (const chunk of file.content) await handle.write(chunk);
        } finally {
          await handle.close();
        }
        written.push(file.path);
      },
    });
    const manifestBytes = written.includes(MANIFEST_FILE_NAME) ? await readFile(join(staging, MANIFEST_FILE_NAME)) : undefined;
    const manifest = await validatePackagedManifest(manifestBytes, directoryFileSource(staging, 'the package'));
    await moveIntoPlace(staging, destination);
    return { dir: destination, manifest, sha256: input.sha256, files: written };
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
}

async function moveIntoPlace(staging: string, destination: string): Promise<void> {
  try {
    await rename(staging, destination);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') {
      throw new PackageError('DESTINATION_EXISTS', `cannot extract into ${destination}: it already exists`);
    }
    throw error;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
