import { mapFileSource, type ManifestFileSource } from '../manifest/file-source.js';
import { parseYamlDocument } from '../manifest/parse-yaml.js';
import { checkReferencedFiles } from '../manifest/referenced-files.js';
import { MANIFEST_FILE_NAME, type ExtensionManifest, type ManifestProblem } from '../manifest/types.js';
import { validateManifest } from '../manifest/validate.js';
import { invalidManifestError, PackageError } from './errors.js';
import { resolveLimits, type PackageLimits } from './limits.js';
import { openPackageInput } from './package-source.js';
import { entryBytes, scanPackageEntries, type ScannedFile } from './scan-entries.js';

export type PackageFile = ScannedFile;

export interface ReadPackageOptions extends Partial<PackageLimits> {
  /** Refuse the package unless its sha256 (hex) is this. */
  expectedSha256?: string;
}

export interface ExtensionPackage {
  manifest: ExtensionManifest;
  /** sha256 (hex) of the compressed package. */
  sha256: string;
  /** Size of the compressed package in bytes. */
  size: number;
  /** Regular files by normalized path, extension.yaml included. */
  files: ReadonlyMap<string, PackageFile>;
}

/** Reads an untrusted package into memory (up to its limits), checking everything `extractPackage` checks. */
export async function readPackage(source: Buffer | string, options: ReadPackageOptions = {}): Promise<ExtensionPackage> {
  const limits = resolveLimits(options);
  const input = await openPackageInput(source, limits, options.expectedSha256);
  const files = new Map<string, PackageFile>();
  await scanPackageEntries(input.chunks(), limits, {
    onFile: async (entry) => void files.set(entry.path, { path: entry.path, mode: entry.mode, data: await entryBytes(entry) }),
  });
  const manifest = await validatePackagedManifest(files.get(MANIFEST_FILE_NAME)?.data, mapFileSource(files));
  return { manifest, sha256: input.sha256, size: input.size, files };
}

/** The manifest of a package: present at the root, valid, and naming only files the package has. */
export async function validatePackagedManifest(
  manifestBytes: Buffer | undefined,
  files: ManifestFileSource,
): Promise<ExtensionManifest> {
  if (manifestBytes === undefined) {
    throw new PackageError('MISSING_MANIFEST', `package has no ${MANIFEST_FILE_NAME} at its root`);
  }
  const parsed = parseYamlDocument(manifestBytes.toString('utf8'));
  if (!parsed.ok) throw invalidManifestError('the package', parsed.problems);
  const result = validateManifest(parsed.value);
  const problems: ManifestProblem[] = [...result.errors, ...(await checkReferencedFiles(parsed.value, files))];
  if (!result.valid || problems.length > 0) throw invalidManifestError('the package', problems);
  return result.manifest;
}

/**
 * Some files of an untrusted package (every entry is still checked against the limits), read
 * as a stream: only the selected files are kept in memory.
 */
export async function readPackageFiles(source: Buffer | string, select: (path: string, size: number) => boolean, options: ReadPackageOptions = {}): Promise<Map<string, Buffer>> {
  const limits = resolveLimits(options);
  const input = await openPackageInput(source, limits, options.expectedSha256);
  const files = new Map<string, Buffer>();
  await scanPackageEntries(input.chunks(), limits, {
    onFile: async (entry) => {
      if (select(entry.path, entry.size)) files.set(entry.path, await entryBytes(entry));
    },
  });
  return files;
}
