import type { Engines, LocalizedText, Provider } from '../manifest/types.js';

/** One published version of an extension in a repository's `index.yaml`. */
export interface IndexEntry {
  name: string;
  version: string;
  /** sha256 (hex) of the package file. */
  digest: string;
  /** Where to download the package: file names relative to the index, or absolute URLs (mirrors). */
  urls: string[];
  /** RFC 3339 time of publication. */
  created: string;
  engines: Engines;
  dependencies: Record<string, string>;
  category: string;
  displayName: LocalizedText;
  description: LocalizedText;
  keywords: string[];
  provider: Provider;
  /** As in the manifest: a path inside the package or an https URL. */
  icon?: string;
  license: string;
  homepage?: string;
  /** Base64 ed25519 signature of the digest. */
  signature?: string;
  /** Still downloadable for pinned installs, but not offered for new ones. */
  yanked?: boolean;
  yankedReason?: string;
}

/** A static repository index, in the manner of Helm's `index.yaml`. */
export interface RepositoryIndex {
  apiVersion: 'v1';
  /** RFC 3339 time the index was last written. */
  generated: string;
  /** By extension name; each list newest version first. */
  entries: Record<string, IndexEntry[]>;
  /** Sorted category names of the extensions listed. */
  categories: string[];
}

export const REPOSITORY_INDEX_FILE = 'index.yaml';
export const PACKAGES_DIR = 'packages';
