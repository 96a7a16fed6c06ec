// `@mortise/extension-sdk/package`: packing, reading, extracting, digests and signatures of extension packages.
export { PackageError, type PackageErrorCode } from './errors.js';
export { DEFAULT_PACKAGE_LIMITS, type PackageLimits } from './limits.js';
export { sha256Hex, sha256File, isSha256Hex, parseSha256File, packageFileName } from './digest.js';
export {
  generateSigningKeyPair,
  signDigest,
  verifyDigestSignature,
  isWellFormedSignature,
  publicKeyFingerprint,
  toPublicKey,
  type SigningKeyPair,
} from './signing.js';
export { packExtension, type PackOptions, type PackResult } from './pack.js';
export { readPackage, readPackageFiles, type ReadPackageOptions, type ExtensionPackage, type PackageFile } from './read-package.js';
export { extractPackage, type ExtractedPackage } from './extract-package.js';
export { parseIgnoreRules, IGNORE_FILE_NAME, type IgnoreMatcher } from './ignore-rules.js';
export { PACKAGE_ENTRY_MTIME } from './tar-writer.js';
