import type { ManifestProblem } from '../manifest/types.js';

export type RepositoryErrorCode =
  | 'INVALID_INDEX'
  | 'INVALID_URL'
  | 'NOT_FOUND'
  | 'VERSION_EXISTS'
  | 'HTTP_ERROR'
  | 'NETWORK_ERROR'
  | 'TIMEOUT'
  | 'TOO_LARGE'
  | 'DIGEST_MISMATCH'
  | 'SIGNATURE_MISSING'
  | 'SIGNATURE_INVALID';

/** Anything wrong with a repository index or fetching from a repository. */
export class RepositoryError extends Error {
  override readonly name = 'RepositoryError';
  constructor(
    readonly code: RepositoryErrorCode,
    message: string,
    /** `status`: the HTTP status answered; `cause`: the system error code of a failed connection (ECONNREFUSED, CERT_HAS_EXPIRED…). */
    readonly details: { status?: number; problems?: ManifestProblem[]; cause?: string } = {},
  ) {
    super(message);
  }
}
