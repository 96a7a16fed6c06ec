/** A reason an extension cannot be installed (or a version served) that the admin can act on. */
export class InstallError extends Error {}

/**
 * No synced repository offers the version a plan names (yet): the plan is failed, and goes on by
 * itself once a repository's sync offers it — a plan applied together with its repository (or
 * before a newly published version is synced) must not need a manual retry.
 */
export class VersionNotOffered extends InstallError {}

/**
 * A dependency the manifest names is not installed at a version in its range (yet): the plan is
 * failed, and goes on by itself once it is — plans applied together must not depend on the order
 * they are reconciled in.
 */
export class DependencyNotInstalled extends InstallError {
  constructor(message: string, readonly dependency: string, readonly range: string) {
    super(message);
  }
}
