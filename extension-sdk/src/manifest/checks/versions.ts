import semver from 'semver';
import type { ManifestProblem } from '../types.js';
import { describeValue } from '../../util/describe-value.js';
import { ownEntries, isRecord } from '../../util/guards.js';
import { jsonPointer } from '../../util/json-pointer.js';

/** version is canonical semver; engines.mortise and every dependency are valid ranges. */
export function checkVersions(manifest: Record<string, unknown>): ManifestProblem[] {
  const problems: ManifestProblem[] = [];
  const { version, name, engines, dependencies } = manifest;

  if (typeof version === 'string' && version.length > 0) {
    const message = versionProblem(version);
    if (message) problems.push({ path: '/version', message });
  }

  if (isRecord(engines) && typeof engines.mortise === 'string' && engines.mortise.length > 0) {
    if (semver.validRange(engines.mortise) === null) {
      problems.push({ path: '/engines/mortise', message: `must be a valid semver range, got ${describeValue(engines.mortise)}` });
    }
  }

  for (const [dependency, range] of ownEntries(dependencies)) {
    const path = jsonPointer('dependencies', dependency);
    if (dependency === name) {
      problems.push({ path, message: 'an extension cannot depend on itself' });
    }
    if (typeof range === 'string' && range.length > 0 && semver.validRange(range) === null) {
      problems.push({ path, message: `must be a valid semver range, got ${describeValue(range)}` });
    }
  }
  return problems;
}

/** Why `version` is not a canonical semver version ("1.2.3", "2.0.0-rc.1"), if it is not. */
export function versionProblem(version: string): string | undefined {
  const parsed = semver.valid(version);
  if (parsed === null) return `must be a valid semver version such as "1.2.3", got ${describeValue(version)}`;
  // semver.valid accepts "v1.2.3" and drops build metadata; package file names need one spelling.
  if (parsed !== version) {
    return `must be written in canonical form ${describeValue(parsed)} (no leading "v", no build metadata), got ${describeValue(version)}`;
  }
  return undefined;
}
