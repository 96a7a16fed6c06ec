/** A reason an extension cannot be installed (or a version served) that the admin can act on. */
export class InstallError extends Error {}

/**
 * A failure that may end by itself: the plan stays failed, its Installed condition's reason says
 * why, and it goes on once what it waits for is so (the controller checks, nothing by hand).
 */
export abstract class WaitingInstallError extends InstallError {
  abstract readonly reason: string;
  /** What the plan waits for, as the end of "… as soon as <waitsFor>". */
  abstract readonly waitsFor: string;
}

/**
 * No synced repository offers the version a plan names (yet): a plan applied together with its
 * repository, or before a newly published version is synced, must not need a manual retry.
 */
export class VersionNotOffered extends WaitingInstallError {
  static readonly reason = 'VersionNotOffered';
  readonly reason = VersionNotOffered.reason;
  readonly waitsFor = 'a repository offers it';
}

/**
 * A dependency the manifest names is not installed at a version in its range (yet): plans applied
 * together must not depend on the order they are reconciled in.
 */
export class DependencyNotInstalled extends WaitingInstallError {
  static readonly reason = 'DependencyNotInstalled';
  readonly reason = DependencyNotInstalled.reason;
  readonly waitsFor: string;
  constructor(message: string, dependency: string, range: string) {
    super(message);
    this.waitsFor = `${dependency} ${range} is installed`;
  }
}
