import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '@mortise/extension-sdk';
import { SerialQueue } from './serial-queue.js';

type Counts = Record<string, Record<string, number>>;

/**
 * Download counts per extension and version, kept in memory and written to a JSON file at
 * most every `flushIntervalMs` (and on close), so a burst of downloads costs one write.
 */
export class DownloadCounter {
  // Null-prototype maps: names come from files and requests, never from Object.prototype.
  private counts: Counts = Object.create(null) as Counts;
  private timer: NodeJS.Timeout | undefined;
  private readonly writes = new SerialQueue();

  private constructor(
    private readonly file: string,
    private readonly flushIntervalMs: number,
  ) {}

  static async open(file: string, flushIntervalMs: number): Promise<DownloadCounter> {
    const counter = new DownloadCounter(file, flushIntervalMs);
    try {
      const parsed = JSON.parse(await readFile(file, 'utf8')) as unknown;
      counter.counts = sanitize(parsed);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read download counts from ${file}: ${(error as Error).message}`);
    }
    return counter;
  }

  increment(name: string, version: string): void {
    const versions = (this.counts[name] ??= Object.create(null) as Record<string, number>);
    versions[version] = (versions[version] ?? 0) + 1;
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush().catch(() => undefined);
    }, this.flushIntervalMs);
    this.timer.unref();
  }

  forVersion(name: string, version: string): number {
    return this.counts[name]?.[version] ?? 0;
  }

  total(name: string): number {
    return Object.values(this.counts[name] ?? {}).reduce((sum, n) => sum + n, 0);
  }

  async flush(): Promise<void> {
    const snapshot = JSON.stringify(this.counts, null, 2);
    await this.writes.run(async () => {
      await mkdir(dirname(this.file), { recursive: true });
      await writeFileAtomic(this.file, snapshot);
    });
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}

function sanitize(value: unknown): Counts {
  const counts = Object.create(null) as Counts;
  if (typeof value !== 'object' || value === null) return counts;
  for (const [name, versions] of Object.entries(value)) {
    if (typeof versions !== 'object' || versions === null) continue;
    for (const [version, n] of Object.entries(versions)) {
      if (typeof n === 'number' && Number.isSafeInteger(n) && n >= 0) (counts[name] ??= Object.create(null) as Record<string, number>)[version] = n;
    }
  }
  return counts;
}
