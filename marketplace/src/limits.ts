import { DEFAULT_PACKAGE_LIMITS, type PackageLimits } from '@mortise/extension-sdk';

/** The SDK's package limits, with the server's overrides. */
export function resolveLimitsForServer(overrides: Partial<PackageLimits> | undefined): PackageLimits {
  const limits: PackageLimits = { ...DEFAULT_PACKAGE_LIMITS };
  for (const key of Object.keys(limits) as Array<keyof PackageLimits>) {
    const value = overrides?.[key];
    if (value !== undefined) limits[key] = value;
  }
  return limits;
}
