import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  emptyRepositoryIndex,
  PACKAGES_DIR,
  parseRepositoryIndex,
  REPOSITORY_INDEX_FILE,
  serializeRepositoryIndex,
  writeFileAtomic,
  type IndexEntry,
  type RepositoryIndex,
} from '@mortise/extension-sdk';
import { SerialQueue } from './serial-queue.js';

export interface IndexChange<T> {
  index: RepositoryIndex;
  result: T;
  undo?: () => Promise<void>;
}

/**
 * One repository on disk: `index.yaml` plus `packages/`. The index is held in memory (with its
 * serialized text, so the static route serves exactly the file's bytes) and every change goes
 * through one queue, so concurrent publishes cannot lose each other's entries.
 */
export class RepositoryStore {
  private current: RepositoryIndex;
  private text: string;
  private etagValue: string;
  private readonly queue = new SerialQueue();
  private readonly listeners: Array<(index: RepositoryIndex) => void> = [];

  private constructor(
    readonly name: string,
    readonly dir: string,
    index: RepositoryIndex,
    text: string,
  ) {
    this.current = index;
    this.text = text;
    this.etagValue = etagOf(text);
  }

  /** Opens `<dataDir>/<name>`, creating an empty repository if there is none. */
  static async open(dataDir: string, name: string): Promise<RepositoryStore> {
    const dir = join(dataDir, name);
    await mkdir(join(dir, PACKAGES_DIR), { recursive: true });
    const indexPath = join(dir, REPOSITORY_INDEX_FILE);
    let text: string;
    try {
      text = await readFile(indexPath, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      text = serializeRepositoryIndex(emptyRepositoryIndex());
      await writeFileAtomic(indexPath, text);
    }
    let index: RepositoryIndex;
    try {
      index = parseRepositoryIndex(text);
    } catch (error) {
      throw new Error(`repository "${name}" has an unreadable ${indexPath}: ${(error as Error).message}`);
    }
    return new RepositoryStore(name, dir, index, text);
  }

  get index(): RepositoryIndex {
    return this.current;
  }

  get indexText(): string {
    return this.text;
  }

  get etag(): string {
    return this.etagValue;
  }

  packagePath(fileName: string): string {
    return join(this.dir, PACKAGES_DIR, fileName);
  }

  onChange(listener: (index: RepositoryIndex) => void): void {
    this.listeners.push(listener);
  }

  /** The entry whose package file is `fileName` (urls are "packages/<file>"). */
  entryForFile(fileName: string): IndexEntry | undefined {
    const url = `${PACKAGES_DIR}/${fileName}`;
    for (const versions of Object.values(this.current.entries)) {
      const entry = versions.find((e) => e.urls.includes(url));
      if (entry) return entry;
    }
    return undefined;
  }

  /**
   * Runs `change` on the latest index under the repository's lock and writes the index it
   * returns atomically. `change` may write files first (the package); its `undo` runs if the
   * index cannot be written, so no file is left that the index does not list.
   */
  update<T>(change: (index: RepositoryIndex) => Promise<IndexChange<T>>): Promise<T> {
    return this.queue.run(async () => {
      const planned = await change(this.current);
      const text = serializeRepositoryIndex(planned.index);
      try {
        await writeFileAtomic(join(this.dir, REPOSITORY_INDEX_FILE), text);
      } catch (error) {
        await planned.undo?.();
        throw error;
      }
      this.current = planned.index;
      this.text = text;
      this.etagValue = etagOf(text);
      for (const listener of this.listeners) listener(planned.index);
      return planned.result;
    });
  }

  async idle(): Promise<void> {
    await this.queue.idle();
  }
}

function etagOf(text: string): string {
  return `"${createHash('sha256').update(text).digest('hex').slice(0, 32)}"`;
}
