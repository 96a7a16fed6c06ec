import type { ValidateFunction } from 'ajv';
import semver from 'semver';
import { versionProblem } from '../manifest/checks/versions.js';
import { parseYamlDocument } from '../manifest/parse-yaml.js';
import type { ManifestProblem } from '../manifest/types.js';
import { ajvErrorsToProblems } from '../schema/ajv-problems.js';
import { createAjv } from '../schema/create-ajv.js';
import { jsonPointer } from '../util/json-pointer.js';
import { RepositoryError } from './errors.js';
import { indexCategories, sortNewestFirst } from './index-operations.js';
import { repositoryIndexSchema } from './schema.js';
import type { IndexEntry, RepositoryIndex } from './types.js';
import { setOwn } from '../util/guards.js';

let compiled: ValidateFunction | undefined;

/**
 * Parses and validates an `index.yaml`. Lists are returned newest first and optional lists
 * default to empty, whatever order or omissions the file had. Throws a RepositoryError
 * (INVALID_INDEX) listing every problem.
 */
export function parseRepositoryIndex(text: string): RepositoryIndex {
  const parsed = parseYamlDocument(text);
  if (!parsed.ok) throw invalid(parsed.problems);
  compiled ??= createAjv().compile(repositoryIndexSchema);
  if (!compiled(parsed.value)) throw invalid(ajvErrorsToProblems(compiled.errors));

  const raw = parsed.value as { generated?: string; entries: Record<string, IndexEntry[]> };
  const problems: ManifestProblem[] = [];
  const entries: Record<string, IndexEntry[]> = {};
  for (const [name, versions] of Object.entries(raw.entries)) {
    const seen = new Map<string, number>();
    versions.forEach((entry, i) => {
      const path = jsonPointer('entries', name, i);
      if (entry.name !== name) problems.push({ path: `${path}/name`, message: `must be ${JSON.stringify(name)}, the key it is listed under` });
      const versionError = versionProblem(entry.version);
      if (versionError) {
        problems.push({ path: `${path}/version`, message: versionError });
        return;
      }
      const duplicate = [...seen.entries()].find(([v]) => semver.eq(v, entry.version));
      if (duplicate) problems.push({ path: `${path}/version`, message: `duplicates version ${entry.version} of ${jsonPointer('entries', name, duplicate[1])}` });
      seen.set(entry.version, i);
    });
    setOwn(entries, name, versions.map((entry) => ({ ...entry, dependencies: entry.dependencies ?? {}, keywords: entry.keywords ?? [] })));
  }
  if (problems.length > 0) throw invalid(problems);

  for (const name of Object.keys(entries)) setOwn(entries, name, sortNewestFirst(entries[name]!));
  return {
    apiVersion: 'v1',
    generated: raw.generated ?? new Date(0).toISOString(),
    entries,
    categories: indexCategories(entries),
  };
}

function invalid(problems: ManifestProblem[]): RepositoryError {
  const shown = problems.slice(0, 10).map((p) => `${p.path}: ${p.message}`).join('; ');
  const more = problems.length > 10 ? ` (and ${problems.length - 10} more)` : '';
  return new RepositoryError('INVALID_INDEX', `invalid repository index: ${shown}${more}`, { problems });
}
