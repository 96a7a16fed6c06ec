import type { RepositoryCredentials } from '@mortise/extension-sdk/repository';

/** A Repository's `spec.credentials` as stored (write-only over the API). */
export interface RepositoryCredentialsSpec {
  username?: string;
  password?: string;
  bearerToken?: string;
}

/**
 * The credentials a RepositoryClient sends, for the index and for package downloads alike
 * (the client sends them to the repository's own origin only).
 */
export function repositoryCredentials(spec: { credentials?: RepositoryCredentialsSpec }): RepositoryCredentials | undefined {
  const c = spec.credentials;
  if (!c) return undefined;
  if (c.bearerToken) return { token: c.bearerToken };
  if (c.username) return { username: c.username, password: c.password ?? '' };
  return undefined;
}
