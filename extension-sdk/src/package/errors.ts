import type { ManifestProblem } from '../manifest/types.js';

export type PackageErrorCode =
  | 'INVALID_MANIFEST'
  | 'MISSING_MANIFEST'
  | 'UNSAFE_PATH'
  | 'UNSUPPORTED_ENTRY'
  | 'DUPLICATE_ENTRY'
  | 'TOO_MANY_FILES'
  | 'MISSING_DEPENDENCY'
  | 'TOO_LARGE'
  | 'CORRUPT_ARCHIVE'
  | 'DIGEST_MISMATCH'
  | 'DESTINATION_EXISTS'
  | 'IO_ERROR';

/** Anything wrong with an extension package, to pack or to read. `problems` for manifest errors. */
export class PackageError extends Error {
  override readonly name = 'PackageError';
  constructor(
    readonly code: PackageErrorCode,
    message: string,
    readonly problems: ManifestProblem[] = [],
  ) {
    super(message);
  }
}

export function invalidManifestError(where: string, problems: ManifestProblem[]): PackageError {
  const shown = problems.slice(0, 5).map((p) => `${p.path}: ${p.message}`).join('; ');
  const more = problems.length > 5 ? ` (and ${problems.length - 5} more)` : '';
  return new PackageError('INVALID_MANIFEST', `extension.yaml in ${where} is invalid: ${shown}${more}`, problems);
}
