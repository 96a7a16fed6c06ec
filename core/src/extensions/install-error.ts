/** A reason an extension cannot be installed (or a version served) that the admin can act on. */
export class InstallError extends Error {}
