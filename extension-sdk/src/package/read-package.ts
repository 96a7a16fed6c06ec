import { mapFileSource, type ManifestFileSource } from '../manifest/file-source.js';
import { parseYamlDocument } from '../manifest/parse-yaml.js';
import { checkReferencedFiles } from '../manifest/referenced-files.js';
import { MANIFEST_FILE_NAME, type ExtensionManifest, type ManifestProblem } from '../manifest/types.js';
import { validateManifest } from '../manifest/validate.js';
import { invalidManifestError, PackageError } from './errors.js';
import { resolveLimits, type PackageLimits } from './limits.js';
import { loadPackageBytes } from './package-source.js';
import { scanPackageEntries, type ScannedFile } from './scan-entries.js';

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

/** Reads an untrusted package into memory, checking everything `extractPackage` checks. */
export async function readPackage(source: Buffer | string, options: ReadPackageOptions = {}): Promise<ExtensionPackage> {
  const limits = resolveLimits(options);
  const { bytes, sha256 } = await loadPackageBytes(source, limits, options.expectedSha256);
  const files = new Map<string, PackageFile>();
  await scanPackageEntries(bytes, limits, { onFile: (file) => void files.set(file.path, file) });
  const manifest = await validatePackagedManifest(files.get(MANIFEST_FILE_NAME)?.data, mapFileSource(files));
  return { manifest, sha256, size: bytes.length, files };
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
