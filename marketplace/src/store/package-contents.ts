import { PACKAGES_DIR, readPackage, type ExtensionPackage, type IndexEntry, type PackageLimits } from '@mortise/extension-sdk';
import type { RepositoryStore } from './repository-store.js';

const DEFAULT_BUDGET_BYTES = 64 * 1024 * 1024;

interface Cached {
  loading: Promise<ExtensionPackage>;
  bytes: number;
}

/**
 * Unpacked packages in memory, for serving README, icons and screenshots. Keyed by digest (a
 * published package never changes); least recently used packages are dropped once their
 * unpacked size passes the budget.
 */
export class PackageContents {
  private readonly cache = new Map<string, Cached>();
  private cachedBytes = 0;

  constructor(
    private readonly limits: PackageLimits,
    private readonly budgetBytes = DEFAULT_BUDGET_BYTES,
  ) {}

  get(store: RepositoryStore, entry: IndexEntry): Promise<ExtensionPackage> {
    const cached = this.cache.get(entry.digest);
    if (cached) {
      this.cache.delete(entry.digest);
      this.cache.set(entry.digest, cached);
      return cached.loading;
    }
    const prefix = `${PACKAGES_DIR}/`;
    const file = entry.urls.find((u) => u.startsWith(prefix))?.slice(prefix.length);
    if (!file) return Promise.reject(new Error(`${entry.name} ${entry.version} is not stored on this server`));

    const record: Cached = { loading: readPackage(store.packagePath(file), { ...this.limits, expectedSha256: entry.digest }), bytes: 0 };
    this.cache.set(entry.digest, record);
    record.loading.then(
      (pkg) => {
        if (this.cache.get(entry.digest) !== record) return;
        record.bytes = [...pkg.files.values()].reduce((sum, f) => sum + f.data.length, 0);
        this.cachedBytes += record.bytes;
        this.evict();
      },
      () => {
        if (this.cache.get(entry.digest) === record) this.cache.delete(entry.digest);
      },
    );
    return record.loading;
  }

  private evict(): void {
    for (const [digest, record] of this.cache) {
      if (this.cachedBytes <= this.budgetBytes) return;
      this.cache.delete(digest);
      this.cachedBytes -= record.bytes;
    }
  }
}
