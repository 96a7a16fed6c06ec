import { statSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { isPathInside } from './permissions.js';
import type { LocalBackendSpec } from './process-runtime-options.js';

/** What identifies a backend's running process: a start with the same fingerprint keeps it. */
export const fingerprintOf = (spec: LocalBackendSpec): string =>
  JSON.stringify([
    spec.id, spec.extension, spec.version, spec.package?.digest, spec.entry, spec.packageDir, spec.dataDir, spec.healthPath, spec.listeners ?? [],
    Object.entries(spec.env ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  ]);

/** Why a spec cannot start (paths, health path), or undefined. */
export function specProblem(spec: LocalBackendSpec): string | undefined {
  if (!spec.id) return 'id is empty';
  for (const key of ['entry', 'packageDir', 'dataDir'] as const) {
    if (typeof spec[key] !== 'string' || !isAbsolute(spec[key])) return `${key} must be an absolute path, got ${JSON.stringify(spec[key])}`;
  }
  if (!isPathInside(spec.entry, spec.packageDir)) return `entry ${spec.entry} is outside the package directory ${spec.packageDir}`;
  try {
    if (!statSync(spec.packageDir).isDirectory()) return `package directory ${spec.packageDir} is not a directory`;
  } catch {
    return `package directory ${spec.packageDir} does not exist`;
  }
  try {
    if (!statSync(spec.entry).isFile()) return `entry ${spec.entry} is not a file`;
  } catch {
    return `entry ${spec.entry} does not exist`;
  }
  if (typeof spec.healthPath !== 'string' || !spec.healthPath.startsWith('/')) return `healthPath must start with "/", got ${JSON.stringify(spec.healthPath)}`;
  return undefined;
}
