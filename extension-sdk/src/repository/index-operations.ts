import semver from 'semver';
import type { ExtensionManifest } from '../manifest/types.js';
import { RepositoryError } from './errors.js';
import type { IndexEntry, RepositoryIndex } from './types.js';
import { ownValue } from '../util/guards.js';

/** The versions of `name` in the index, newest first (own entries only: `constructor` finds nothing). */
export function versionsOf(index: RepositoryIndex, name: string): IndexEntry[] | undefined {
  return ownValue(index.entries, name);
}

export function emptyRepositoryIndex(now: Date = new Date()): RepositoryIndex {
  return { apiVersion: 'v1', generated: now.toISOString(), entries: {}, categories: [] };
}

export interface AddToIndexOptions {
  digest: string;
  /** Package location relative to the index (e.g. "packages/x-1.0.0.tgz") or absolute. */
  url: string;
  signature?: string;
  created?: Date | string;
  now?: Date;
}

/** The index entry describing a packaged manifest. */
export function entryFromManifest(manifest: ExtensionManifest, options: AddToIndexOptions): IndexEntry {
  const entry: IndexEntry = {
    name: manifest.name,
    version: manifest.version,
    digest: options.digest,
    urls: [options.url],
    created: toIso(options.created ?? options.now ?? new Date()),
    engines: { mortise: manifest.engines.mortise },
    dependencies: { ...(manifest.dependencies ?? {}) },
    category: manifest.category,
    displayName: manifest.displayName,
    description: manifest.description,
    keywords: [...(manifest.keywords ?? [])],
    provider: { ...manifest.provider },
    license: manifest.license,
  };
  if (manifest.icon !== undefined) entry.icon = manifest.icon;
  if (manifest.homepage !== undefined) entry.homepage = manifest.homepage;
  if (options.signature !== undefined) entry.signature = options.signature;
  return entry;
}

/** A new index with the manifest's version added. Publishing a version twice is refused. */
export function addToIndex(index: RepositoryIndex, manifest: ExtensionManifest, options: AddToIndexOptions): RepositoryIndex {
  const existing = versionsOf(index, manifest.name) ?? [];
  if (existing.some((e) => semver.eq(e.version, manifest.version))) {
    throw new RepositoryError('VERSION_EXISTS', `${manifest.name} ${manifest.version} is already published; publish a new version instead`);
  }
  const entries = { ...index.entries, [manifest.name]: sortNewestFirst([...existing, entryFromManifest(manifest, options)]) };
  return withEntries(index, entries, options.now);
}

/** A new index in which `name@version` is marked yanked (it stays downloadable). */
export function yankInIndex(index: RepositoryIndex, name: string, version: string, reason: string | undefined, now?: Date): RepositoryIndex {
  const versions = versionsOf(index, name);
  const target = versions?.find((e) => e.version === version);
  if (!versions || !target) throw new RepositoryError('NOT_FOUND', `${name} ${version} is not in the repository`);
  const yanked: IndexEntry = { ...target, yanked: true };
  if (reason) yanked.yankedReason = reason;
  else delete yanked.yankedReason;
  return withEntries(index, { ...index.entries, [name]: versions.map((e) => (e === target ? yanked : e)) }, now);
}

/** The newest version that is not yanked (or, with includeYanked, the newest at all). */
export function latestEntry(index: RepositoryIndex, name: string, options: { includeYanked?: boolean } = {}): IndexEntry | undefined {
  const versions = versionsOf(index, name) ?? [];
  return versions.find((e) => !e.yanked) ?? (options.includeYanked ? versions[0] : undefined);
}

export function findEntry(index: RepositoryIndex, name: string, version: string): IndexEntry | undefined {
  return versionsOf(index, name)?.find((e) => e.version === version);
}

export function sortNewestFirst(entries: IndexEntry[]): IndexEntry[] {
  return [...entries].sort((a, b) => semver.rcompare(a.version, b.version));
}

/** Categories of each extension's newest version, sorted and unique. */
export function indexCategories(entries: Record<string, IndexEntry[]>): string[] {
  const categories = new Set<string>();
  for (const versions of Object.values(entries)) if (versions[0]) categories.add(versions[0].category);
  return [...categories].sort();
}

function withEntries(index: RepositoryIndex, entries: Record<string, IndexEntry[]>, now: Date = new Date()): RepositoryIndex {
  return { ...index, generated: now.toISOString(), entries, categories: indexCategories(entries) };
}

function toIso(value: Date | string): string {
  return typeof value === 'string' ? new Date(value).toISOString() : value.toISOString();
}
