import { RepositoryError } from '@mortise/extension-sdk/repository';

/**
 * What a Repository's status says when a sync fails: the HTTP status or the kind of failure,
 * which is what its admin needs to act. Never the bytes the URL answered (a repository URL can
 * point anywhere: the status must not become a way to read other servers), and for a `file://`
 * URL one message whether the path is missing or unreadable (nor a way to probe the core's disk).
 * The core's log keeps the full error for the operator.
 */
export function describeSyncFailure(error: unknown, url: string): string {
  const where = `${url.replace(/\/+$/, '')}/index.yaml`;
  const code = error instanceof RepositoryError ? error.code : undefined;
  if (url.startsWith('file:') && code !== 'INVALID_URL' && code !== 'INVALID_INDEX') return `cannot read ${where}: it is missing or unreadable`;
  if (!(error instanceof RepositoryError)) return `syncing from ${where} failed unexpectedly (the core's log says why)`;
  switch (error.code) {
    case 'INVALID_URL':
      return error.message;
    case 'HTTP_ERROR':
    case 'NOT_FOUND':
      return `GET ${where} answered ${error.details.status === undefined ? 'an error' : `HTTP ${error.details.status}${hint(error.details.status)}`}`;
    case 'NETWORK_ERROR':
      return `GET ${where} failed: could not connect or the connection broke${error.details.cause ? ` (${error.details.cause})` : ''}`;
    case 'TIMEOUT':
      return `GET ${where} did not complete in time`;
    case 'TOO_LARGE':
      return `${where} is larger than the index size allowed`;
    case 'INVALID_INDEX': {
      const n = error.details.problems?.length;
      return `${where} is not a valid repository index${n ? ` (${n} problem${n === 1 ? '' : 's'}; the core's log lists them)` : ''}`;
    }
    default:
      return `syncing from ${where} failed (${error.code})`;
  }
}

function hint(status: number): string {
  if (status === 401 || status === 403) return ' (check spec.credentials)';
  if (status === 404) return ' (no repository index at this URL)';
  return '';
}
