import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { KeyObject } from 'node:crypto';
import { loadManifestFromDir } from '../manifest/load-from-dir.js';
import type { ExtensionManifest } from '../manifest/types.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { collectPackageFiles } from './collect-files.js';
import { packageFileName, sha256Hex } from './digest.js';
import { invalidManifestError } from './errors.js';
import { resolveLimits, type PackageLimits } from './limits.js';
import { readPackage } from './read-package.js';
import { signDigest } from './signing.js';
import { writeTar } from './tar-writer.js';

/** gzip header byte 9 names the OS; "unknown" keeps the bytes the same on every platform. */
const GZIP_OS_UNKNOWN = 0xff;

export interface PackOptions {
  outDir: string;
  /** ed25519 private key (PEM or KeyObject); when given, a `.sig` file is written. */
  signingKey?: string | KeyObject;
  limits?: Partial<PackageLimits>;
}

export interface PackResult {
  manifest: ExtensionManifest;
  /** Absolute path of `<name>-<version>.tgz`. */
  file: string;
  sha256: string;
  sha256File: string;
  size: number;
  signature?: string;
  signatureFile?: string;
  /** Paths inside the package, in archive order. */
  entries: string[];
}

/**
 * Packs an extension directory into `<outDir>/<name>-<version>.tgz`. The same input always
 * gives the same bytes: sorted entries, extension.yaml first, normalized metadata, no gzip
 * timestamp. node_modules, .git and `.mortiseignore` matches are left out. The result is read
 * back with `readPackage`, so a package that installs would refuse is never written.
 */
export async function packExtension(dir: string, options: PackOptions): Promise<PackResult> {
  const limits = resolveLimits(options.limits);
  const sourceDir = resolve(dir);
  const outDir = resolve(options.outDir);

  const loaded = await loadManifestFromDir(sourceDir);
  if (!loaded.valid) throw invalidManifestError(sourceDir, loaded.errors);
  const manifest = loaded.manifest;

  const outInsideSource = (outDir + sep).startsWith(sourceDir + sep) && outDir !== sourceDir;
  const sources = await collectPackageFiles(sourceDir, limits, outInsideSource ? [outDir] : []);
  const files = await Promise.all(
    sources.map(async (f) => ({ path: f.path, executable: f.executable, data: await readFile(f.absolutePath) })),
  );
  const archive = gzipSync(writeTar(files), { level: 9 });
  archive[9] = GZIP_OS_UNKNOWN;

  const sha256 = sha256Hex(archive);
  await readPackage(archive, { ...limits, expectedSha256: sha256 });

  const name = packageFileName(manifest.name, manifest.version);
  const file = join(outDir, name);
  await mkdir(outDir, { recursive: true });
  const signature = options.signingKey !== undefined ? signDigest(sha256, options.signingKey) : undefined;
  await writeFileAtomic(file, archive);
  await writeFileAtomic(`${file}.sha256`, `${sha256}  ${name}\n`);

  const result: PackResult = {
    manifest,
    file,
    sha256,
    sha256File: `${file}.sha256`,
    size: archive.length,
    entries: files.map((f) => f.path),
  };
  if (signature !== undefined) {
    result.signature = signature;
    result.signatureFile = `${file}.sig`;
    await writeFileAtomic(result.signatureFile, `${signature}\n`);
  }
  return result;
}
