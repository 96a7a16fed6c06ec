import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { REPOSITORY_INDEX_FILE } from '@mortise/extension-sdk';
import { notFound } from '../http/api-error.js';
import { RESERVED_REPOSITORY_NAMES } from '../options.js';
import { SearchIndex } from '../search/search-index.js';
import { DownloadCounter } from './download-counter.js';
import { RepositoryStore } from './repository-store.js';

/** State kept outside the repository directories, so they stay servable by any static host. */
export const STATE_DIR = '.marketplace';

const REPOSITORY_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export interface Repository {
  store: RepositoryStore;
  downloads: DownloadCounter;
  /** Rebuilt whenever the index changes. */
  search: SearchIndex;
}

/** Every repository under the data directory, by name. */
export class Repositories {
  private constructor(private readonly byName: Map<string, Repository>) {}

  /** Opens the repositories found in `dataDir` plus `ensure` (created empty when missing). */
  static async open(dataDir: string, ensure: readonly string[], flushIntervalMs: number): Promise<Repositories> {
    for (const name of ensure) {
      if (!isRepositoryName(name)) throw new Error(`invalid repository name "${name}": use a DNS-1123 label that is not one of ${[...RESERVED_REPOSITORY_NAMES].join(', ')}`);
    }
    const names = new Set(ensure);
    for (const name of await readdir(dataDir).catch(() => [] as string[])) {
      if (isRepositoryName(name) && (await isFile(join(dataDir, name, REPOSITORY_INDEX_FILE)))) names.add(name);
    }
    const byName = new Map<string, Repository>();
    for (const name of [...names].sort()) {
      const store = await RepositoryStore.open(dataDir, name);
      const downloads = await DownloadCounter.open(join(dataDir, STATE_DIR, `downloads-${name}.json`), flushIntervalMs);
      const repository: Repository = { store, downloads, search: new SearchIndex(store.index) };
      store.onChange((index) => {
        repository.search = new SearchIndex(index);
      });
      byName.set(name, repository);
    }
    return new Repositories(byName);
  }

  get(name: string): Repository {
    const repository = this.byName.get(name);
    if (!repository) throw notFound(`repository "${name}" does not exist`);
    return repository;
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  async close(): Promise<void> {
    for (const repository of this.byName.values()) {
      await repository.store.idle();
      await repository.downloads.close();
    }
  }
}

export function isRepositoryName(name: string): boolean {
  return name.length <= 63 && REPOSITORY_NAME.test(name) && !RESERVED_REPOSITORY_NAMES.has(name);
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
