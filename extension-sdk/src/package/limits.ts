/** Bounds applied to every package packed or read, so a hostile archive cannot exhaust disk or memory. */
export interface PackageLimits {
  /** Size of the compressed .tgz. */
  maxPackageSize: number;
  /** Sum of the sizes of all files once unpacked. */
  maxTotalSize: number;
  /** Size of any single unpacked file. */
  maxFileSize: number;
  /** Number of entries (files and directories). */
  maxFiles: number;
}

const MiB = 1024 * 1024;

export const DEFAULT_PACKAGE_LIMITS: Readonly<PackageLimits> = Object.freeze({
  maxPackageSize: 200 * MiB,
  maxTotalSize: 200 * MiB,
  maxFileSize: 100 * MiB,
  maxFiles: 10_000,
});

export function resolveLimits(limits: Partial<PackageLimits> | undefined): PackageLimits {
  return { ...DEFAULT_PACKAGE_LIMITS, ...stripUndefined(limits ?? {}) };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < MiB) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / MiB).toFixed(1)} MiB`;
}
