export * from './manifest/types.js';
export { extensionManifestSchema } from './manifest/schema.js';
export { validateManifest } from './manifest/validate.js';
export { parseManifestYaml, parseYamlDocument, type YamlParseResult } from './manifest/parse-yaml.js';
export { loadManifestFromDir } from './manifest/load-from-dir.js';
export { checkReferencedFiles } from './manifest/referenced-files.js';
export { directoryFileSource, mapFileSource, type ManifestFileSource } from './manifest/file-source.js';
export { withManifestDefaults } from './manifest/defaults.js';
export { frontendDirectory, frontendExposureWarnings, isPublicAsset, publicAssets, type PublicAssets } from './manifest/public-assets.js';
export { versionProblem } from './manifest/checks/versions.js';
export { RESERVED_API_GROUPS } from './manifest/checks/api-services.js';
export { RESERVED_PATH_SEGMENTS } from './manifest/checks/reverse-proxies.js';

export { PackageError, type PackageErrorCode } from './package/errors.js';
export { DEFAULT_PACKAGE_LIMITS, type PackageLimits } from './package/limits.js';
export { sha256Hex, sha256File, isSha256Hex, parseSha256File, packageFileName } from './package/digest.js';
export {
  generateSigningKeyPair,
  signDigest,
  verifyDigestSignature,
  isWellFormedSignature,
  publicKeyFingerprint,
  toPublicKey,
  type SigningKeyPair,
} from './package/signing.js';
export { packExtension, type PackOptions, type PackResult } from './package/pack.js';
export { readPackage, readPackageFiles, type ReadPackageOptions, type ExtensionPackage, type PackageFile } from './package/read-package.js';
export { extractPackage, type ExtractedPackage } from './package/extract-package.js';
export { parseIgnoreRules, IGNORE_FILE_NAME, type IgnoreMatcher } from './package/ignore-rules.js';
export { PACKAGE_ENTRY_MTIME } from './package/tar-writer.js';

export * from './repository/types.js';
export { RepositoryError, type RepositoryErrorCode } from './repository/errors.js';
export { repositoryIndexSchema, indexEntrySchema } from './repository/schema.js';
export { parseRepositoryIndex } from './repository/parse-index.js';
export { serializeRepositoryIndex } from './repository/serialize-index.js';
export {
  addToIndex,
  yankInIndex,
  latestEntry,
  findEntry,
  versionsOf,
  emptyRepositoryIndex,
  entryFromManifest,
  sortNewestFirst,
  indexCategories,
  type AddToIndexOptions,
} from './repository/index-operations.js';
export { RepositoryClient, type RepositoryClientOptions, type RepositoryCredentials } from './repository/client.js';
export { publishPackage, PublishError, type PublishOptions, type PublishResult } from './repository/publish-client.js';

export { runCli } from './cli/run-cli.js';
export type { CliIO } from './cli/io.js';
export { validateCommand } from './cli/commands/validate.js';
export { packCommand, type PackCommandOptions } from './cli/commands/pack.js';
export { keygenCommand, type KeygenCommandOptions } from './cli/commands/keygen.js';
export { publishCommand, type PublishCommandOptions } from './cli/commands/publish.js';

export { writeFileAtomic } from './util/atomic-write.js';
export { freePort } from './util/free-port.js';
export { unsafePackagePathReason, normalizePackagePath } from './util/package-path.js';
export * from './backend/index.js';
