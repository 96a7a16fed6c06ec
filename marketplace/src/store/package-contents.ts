import { readPackage, type ExtensionPackage, type IndexEntry, type PackageLimits } from '@mortise/extension-sdk';
import type { RepositoryStore } from './repository-store.js';

/**
 * Unpacked packages in memory, for serving README, icons and screenshots. Keyed by digest (a
 * package never changes once published); the least recently used are dropped.
 */
export class PackageContents {
  private readonly cache = new Map<string, Promise<ExtensionPackage>>();

  constructor(
    private readonly limits: PackageLimits,
    private readonly capacity = 16,
  ) {}

  get(store: RepositoryStore, entry: IndexEntry): Promise<ExtensionPackage> {
    const cached = this.cache.get(entry.digest);
    if (cached) {
      this.cache.delete(entry.digest);
      this.cache.set(entry.digest, cached);
      return cached;
    }
    const file = entry.urls.find((u) => u.startsWith('packages/'))?.slice('packages/'.length);
    const loading = file
      ? readPackage(store.packagePath(file), { ...this.limits, expectedSha256: entry.digest })
      : Promise.reject(new Error(`${entry.name} ${entry.version} is not stored on this server`));
    loading.catch(() => this.cache.delete(entry.digest));
    this.cache.set(entry.digest, loading);
    while (this.cache.size > this.capacity) this.cache.delete(this.cache.keys().next().value!);
    return loading;
  }
}
