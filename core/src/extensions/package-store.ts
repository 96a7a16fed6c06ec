import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync, type Dirent } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { type ExtensionManifest } from '@mortise/extension-sdk/manifest';
import { extractPackage, sha256File } from '@mortise/extension-sdk/package';
import { RepositoryClient, type IndexEntry, type RepositoryCredentials } from '@mortise/extension-sdk/repository';

export interface PackageSource {
  repositoryUrl: string;
  credentials?: RepositoryCredentials;
  trustedKeys?: string[];
  entry: IndexEntry;
}

const completeMarker = '.mortise-unpacked';
const manifestFile = '.mortise-manifest.json';

/** An archive in the cache, an unpacked version, or what an interrupted step left. */
export interface CachedArchive { file: string; size: number; lastUsed: string }
export interface UnpackedVersion { name: string; version: string; size: number; complete: boolean }
export interface CacheContents { archives: CachedArchive[]; unpacked: UnpackedVersion[]; leftovers: Array<{ path: string; size: number }> }

/** A temporary archive (`<name>-<version>.tgz.<hex>.tmp`) or staging directory (`.<version>.partial-XXXXXX`). */
const temporaryArchive = /^(.+\.tgz)\.[0-9a-f]+\.tmp$/;
const stagingDir = /^\.(.+)\.partial-[A-Za-z0-9]+$/;
/** What preparePlatformModules stages beside `unpacked/node_modules`. */
const platformStaging = /^node_modules\.staging-(\d+)$/;

/**
 * Where packages live on disk under the data dir: downloaded archives (a cache, so a restart does
 * not download again; least recently used evicted beyond a size) and unpacked versions (the
 * backend's working dir). Every step checks the digest again; an unpack that did not finish is
 * redone, and what an interrupted step left behind is reclaimed unless a step in progress owns it.
 */
export class PackageStore {
  /** Steps in progress in this process, by archive file name or unpack directory: their temporary files are theirs. */
  private readonly busy = new Map<string, number>();

  constructor(private readonly root: string) {}

  private async owning<T>(key: string, step: () => Promise<T>): Promise<T> {
    this.busy.set(key, (this.busy.get(key) ?? 0) + 1);
    try {
      return await step();
    } finally {
      const left = this.busy.get(key)! - 1;
      if (left > 0) this.busy.set(key, left);
      else this.busy.delete(key);
    }
  }

  archivePath(name: string, version: string): string {
    return join(this.root, 'packages', archiveFile(name, version));
  }

  /** Where the platform's modules (the SDK and its dependencies) are visible to every package. */
  get unpackedRoot(): string {
    return join(this.root, 'unpacked');
  }

  unpackedDir(name: string, version: string): string {
    return join(this.root, 'unpacked', name, version);
  }

  dataDir(name: string): string {
    return join(this.root, 'data', name);
  }

  /** Downloads (unless already here with the right digest) and returns the archive path. */
  async download(src: PackageSource): Promise<string> {
    const path = this.archivePath(src.entry.name, src.entry.version);
    return this.owning(path, async () => {
      if (existsSync(path) && (await sha256File(path)) === src.entry.digest) return touched(path);
      const client = new RepositoryClient({ url: src.repositoryUrl, credentials: src.credentials, trustedKeys: src.trustedKeys });
      mkdirSync(dirname(path), { recursive: true });
      // Streamed to `<archive>.<hex>.tmp`, verified, renamed: never held in memory.
      return client.downloadPackage(src.entry, path);
    });
  }

  /** Unpacks the archive (digest checked again first) unless a complete unpack is already there. */
  async unpack(name: string, version: string, digest: string): Promise<{ dir: string; manifest: ExtensionManifest }> {
    return this.owning(this.unpackedDir(name, version), () => this.unpackOwned(name, version, digest));
  }

  private async unpackOwned(name: string, version: string, digest: string): Promise<{ dir: string; manifest: ExtensionManifest }> {
    const dir = this.unpackedDir(name, version);
    const marker = join(dir, completeMarker);
    if (existsSync(marker) && readFileSync(marker, 'utf8').trim() === digest) {
      return { dir, manifest: JSON.parse(readFileSync(join(dir, manifestFile), 'utf8')) as ExtensionManifest };
    }
    rmSync(dir, { recursive: true, force: true });
    // Given as a path: the archive is streamed, never held in memory.
    const extracted = await extractPackage(touched(this.archivePath(name, version)), dir, { expectedSha256: digest });
    writeFileSync(join(dir, manifestFile), JSON.stringify(extracted.manifest));
    writeFileSync(marker, digest);
    return { dir, manifest: extracted.manifest };
  }

  /** The manifest and digest of a completely unpacked version directory, or undefined. */
  installedManifest(dir: string): { manifest: ExtensionManifest; digest: string } | undefined {
    try {
      const digest = readFileSync(join(dir, completeMarker), 'utf8').trim();
      return { digest, manifest: JSON.parse(readFileSync(join(dir, manifestFile), 'utf8')) as ExtensionManifest };
    } catch {
      return undefined;
    }
  }

  /**
   * Removes the temporary archives and staging directories that no step in progress owns: what a
   * killed core or a failed step left. Returns what it removed.
   */
  reclaimLeftovers(): string[] {
    const removed: string[] = [];
    const remove = (path: string) => {
      rmSync(path, { recursive: true, force: true });
      removed.push(path);
    };
    const packages = join(this.root, 'packages');
    for (const entry of entries(packages)) {
      const match = temporaryArchive.exec(entry.name);
      if (match && !this.busy.has(join(packages, match[1]!))) remove(join(packages, entry.name));
    }
    for (const entry of entries(this.unpackedRoot)) {
      const staging = platformStaging.exec(entry.name);
      if (staging) {
        if (Number(staging[1]) !== process.pid) remove(join(this.unpackedRoot, entry.name));
        continue;
      }
      if (!entry.isDirectory() || entry.name === 'node_modules') continue;
      const dir = join(this.unpackedRoot, entry.name);
      for (const version of entries(dir)) {
        const match = stagingDir.exec(version.name);
        if (match && !this.busy.has(join(dir, match[1]!))) remove(join(dir, version.name));
      }
    }
    return removed;
  }

  /** The extensions that have an unpacked directory. */
  unpackedNames(): string[] {
    return entries(this.unpackedRoot).filter((e) => e.isDirectory() && e.name !== 'node_modules' && !e.name.startsWith('.')).map((e) => e.name);
  }

  /** Removes the unpacked versions of `name` not in `keep` (and not being unpacked). Returns the versions removed. */
  pruneUnpacked(name: string, keep: ReadonlySet<string>): string[] {
    const removed: string[] = [];
    for (const entry of entries(join(this.unpackedRoot, name))) {
      if (!entry.isDirectory() || entry.name.startsWith('.') || keep.has(entry.name) || this.busy.has(this.unpackedDir(name, entry.name))) continue;
      rmSync(this.unpackedDir(name, entry.name), { recursive: true, force: true });
      removed.push(entry.name);
    }
    return removed;
  }

  /**
   * Evicts cached archives, least recently used first, until they total at most `maxBytes` —
   * never one in `needed` (file names, `<name>-<version>.tgz`) or being downloaded. Returns the
   * files evicted.
   */
  limitArchives(maxBytes: number, needed: ReadonlySet<string>): string[] {
    const archives = this.contents().archives;
    let total = archives.reduce((n, a) => n + a.size, 0);
    const evicted: string[] = [];
    for (const archive of archives.sort((a, b) => a.lastUsed.localeCompare(b.lastUsed))) {
      if (total <= maxBytes) break;
      const path = join(this.root, 'packages', archive.file);
      if (needed.has(archive.file) || this.busy.has(path)) continue;
      rmSync(path, { force: true });
      total -= archive.size;
      evicted.push(archive.file);
    }
    return evicted;
  }

  /** What the cache holds: archives (with when last used), unpacked versions, and leftovers. */
  contents(): CacheContents {
    const out: CacheContents = { archives: [], unpacked: [], leftovers: [] };
    const packages = join(this.root, 'packages');
    for (const entry of entries(packages)) {
      const path = join(packages, entry.name);
      if (temporaryArchive.test(entry.name)) out.leftovers.push({ path: relativeTo(this.root, path), size: sizeOf(path) });
      else if (entry.isFile() && entry.name.endsWith('.tgz')) {
        const stats = statSync(path, { throwIfNoEntry: false });
        if (stats) out.archives.push({ file: entry.name, size: stats.size, lastUsed: stats.mtime.toISOString() });
      }
    }
    for (const entry of entries(this.unpackedRoot)) {
      if (!entry.isDirectory() || entry.name === 'node_modules') continue;
      for (const version of entries(join(this.unpackedRoot, entry.name))) {
        const path = join(this.unpackedRoot, entry.name, version.name);
        if (stagingDir.test(version.name)) out.leftovers.push({ path: relativeTo(this.root, path), size: sizeOf(path) });
        else if (version.isDirectory()) out.unpacked.push({ name: entry.name, version: version.name, size: sizeOf(path), complete: existsSync(join(path, completeMarker)) });
      }
    }
    return out;
  }

  removeAll(name: string, purgeData: boolean): void {
    rmSync(join(this.root, 'unpacked', name), { recursive: true, force: true });
    if (purgeData) rmSync(this.dataDir(name), { recursive: true, force: true });
  }
}

/** The directory of the SDK package the core itself uses. */
export const archiveFile = (name: string, version: string) => `${name}-${version}.tgz`;

/** Marks an archive as just used (its mtime orders the cache's eviction). */
function touched(path: string): string {
  const now = new Date();
  try {
    utimesSync(path, now, now);
  } catch {
    // Missing: the caller's next step says so.
  }
  return path;
}

function entries(dir: string): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

/** Bytes of a file, or of everything under a directory (links not followed). */
function sizeOf(path: string): number {
  const stats = statSync(path, { throwIfNoEntry: false });
  if (!stats) return 0;
  if (!stats.isDirectory()) return stats.size;
  return entries(path).reduce((n, e) => n + (e.isSymbolicLink() ? 0 : sizeOf(join(path, e.name))), 0);
}

const relativeTo = (root: string, path: string) => path.slice(root.length + 1);

export function sdkPackageDir(): string {
  const require = createRequire(import.meta.url);
  return resolve(dirname(require.resolve('@mortise/extension-sdk/package.json')));
}
