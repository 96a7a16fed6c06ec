import { stringify } from 'yaml';
import type { IndexEntry, RepositoryIndex } from './types.js';
import { setOwn } from '../util/guards.js';

const ENTRY_FIELD_ORDER: Array<keyof IndexEntry> = [
  'name', 'version', 'digest', 'urls', 'created', 'engines', 'dependencies', 'category', 'displayName',
  'description', 'keywords', 'provider', 'icon', 'license', 'homepage', 'signature', 'yanked', 'yankedReason',
];

/**
 * YAML text of an index with a stable layout: extensions by name, versions newest first as
 * given, fields in a fixed order, so that the same index always serializes the same way.
 */
export function serializeRepositoryIndex(index: RepositoryIndex): string {
  const entries: Record<string, unknown[]> = {};
  for (const name of Object.keys(index.entries).sort()) {
    setOwn(entries, name, index.entries[name]!.map(orderedEntry));
  }
  return stringify(
    { apiVersion: index.apiVersion, generated: index.generated, entries, categories: index.categories },
    { lineWidth: 0, aliasDuplicateObjects: false },
  );
}

function orderedEntry(entry: IndexEntry): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of ENTRY_FIELD_ORDER) if (entry[field] !== undefined) setOwn(out, field, entry[field]);
  // Fields this version does not know are kept, after the known ones.
  for (const [field, value] of Object.entries(entry)) if (!Object.hasOwn(out, field) && value !== undefined) setOwn(out, field, value);
  return out;
}
