import { join } from 'node:path';
import type { CoreClient } from '@mortise/extension-sdk';
import type { AppendedEvents } from './ingest.js';
import { readJsonFile, writeJsonFile } from './json-file.js';
import type { Labels, LogStore } from './log-store.js';

// The platform's own logs as streams readable only with cluster-wide permission (namespace ''):
// the core's log ({source="core"}, GET /kapis/ops.mortise.io/v1alpha1/logs) and every installed
// extension backend's ({source="extension", extension="<name>"}, GET
// /kapis/extensions.mortise.io/v1alpha1/extensions/<name>/logs), each followed with timestamps.
// Where each stopped is kept in the data directory — the time of the last stored line and how
// many lines of that same time were stored — so a restarted backend takes up after it, neither
// losing what the core still holds nor storing a line twice.

/** The last stored line's time (RFC 3339, as the core writes it) and how many stored lines have exactly that time. */
interface Cursor { time: string; n: number }

const FLUSH_LINES = 500;
const FLUSH_MS = 200;
const RETRY_MS = 2000;

/** The cursors of every followed log, in one file written atomically after each stored batch. */
class Cursors {
  private readonly file: string;
  private readonly all: Record<string, Cursor>;

  constructor(dataDir: string) {
    this.file = join(dataDir, 'platform-log-cursors.json');
    this.all = readJsonFile<Record<string, Cursor>>(this.file, {});
  }

  get(key: string): Cursor {
    return { ...(this.all[key] ?? { time: '', n: 0 }) };
  }

  set(key: string, c: Cursor): void {
    this.all[key] = { ...c };
    writeJsonFile(this.file, this.all);
  }
}

interface Deps { core: CoreClient; store: LogStore; events: AppendedEvents; log: (msg: string) => void }

/** One followed log: reconnects when the answer ends or fails, skipping what it already stored. */
class FollowedLog {
  private readonly abort = new AbortController();
  private pending: Array<{ tsNs: bigint; line: string; time: string }> = [];
  private timer: NodeJS.Timeout | undefined;
  /** Where the lines taken so far end (ahead of the stored cursor until they are flushed). */
  private taken: Cursor;
  private flushing = Promise.resolve();

  constructor(private readonly deps: Deps & { cursors: Cursors }, readonly key: string, private readonly path: string, private readonly labels: Labels) {
    this.taken = deps.cursors.get(key);
  }

  start(): void {
    void this.run();
  }

  stop(): void {
    this.abort.abort();
    clearTimeout(this.timer);
  }

  private async run(): Promise<void> {
    while (!this.abort.signal.aborted) {
      // Lines of the cursor's own time met again in this answer: the first `n` are stored already.
      let sameTime = 0;
      try {
        for await (const text of this.deps.core.lines(this.path, { query: { follow: true, timestamps: true, tailLines: 100_000 }, signal: this.abort.signal })) {
          const space = text.indexOf(' ');
          const time = text.slice(0, space);
          const ms = Date.parse(time);
          if (space < 0 || Number.isNaN(ms)) continue;
          if (time < this.taken.time) continue;
          if (time === this.taken.time && ++sameTime <= this.taken.n) continue;
          this.taken = time === this.taken.time ? { time, n: this.taken.n + 1 } : { time, n: 1 };
          sameTime = this.taken.n;
          this.pending.push({ tsNs: BigInt(ms) * 1_000_000n, line: text.slice(space + 1), time });
          if (this.pending.length >= FLUSH_LINES) await this.flush();
          else this.timer ??= setTimeout(() => void this.flush(), FLUSH_MS);
        }
      } catch (e) {
        if (!this.abort.signal.aborted) this.deps.log(`platform logs: ${this.key}: ${(e as Error).message}`);
      }
      await this.flush();
      if (!this.abort.signal.aborted) await new Promise((r) => setTimeout(r, RETRY_MS).unref());
    }
  }

  /** Stores what is pending, then moves the stored cursor to its end. */
  private flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.flushing = this.flushing.then(async () => {
      if (this.pending.length === 0) return;
      const entries = this.pending;
      this.pending = [];
      const last = entries[entries.length - 1]!;
      const cursor = this.deps.cursors.get(this.key);
      // The stored cursor after these lines: counted from the previous one when they end on its time.
      let n = 0;
      for (const e of entries) if (e.time === last.time) n++;
      const next = last.time === cursor.time ? { time: last.time, n: cursor.n + n } : { time: last.time, n };
      const batch = [{ labels: this.labels, namespace: '', workspace: '', entries: entries.map(({ tsNs, line }) => ({ tsNs, line })) }];
      await this.deps.store.append(batch);
      this.deps.events.emit('appended', batch);
      this.deps.cursors.set(this.key, next);
    }).catch((e: Error) => this.deps.log(`platform logs: ${this.key}: ${e.message}`));
    return this.flushing;
  }
}

interface InstallPlan { metadata: { name: string }; spec?: { enabled?: boolean }; status?: { installedVersion?: string } }

/**
 * Follows the core's log and the log of every installed extension's backend, finding them by
 * listing InstallPlans every `intervalMs` (an upgrade restarts the follow on the new version).
 */
export class PlatformLogSource {
  private readonly cursors: Cursors;
  private readonly followed = new Map<string, { log: FollowedLog; version: string }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: Deps & { dataDir: string; intervalMs: number; coreLog: boolean; extensionLogs: boolean }) {
    this.cursors = new Cursors(deps.dataDir);
  }

  start(): void {
    if (this.deps.coreLog) this.follow('core', '', '/kapis/ops.mortise.io/v1alpha1/logs', { source: 'core', job: 'mortise/core' });
    if (!this.deps.extensionLogs) return;
    this.timer = setInterval(() => void this.sync(), this.deps.intervalMs);
    this.timer.unref();
    void this.sync();
  }

  stop(): void {
    clearInterval(this.timer);
    for (const f of this.followed.values()) f.log.stop();
    this.followed.clear();
  }

  private follow(key: string, version: string, path: string, labels: Labels): void {
    const log = new FollowedLog({ ...this.deps, cursors: this.cursors }, key, path, labels);
    this.followed.set(key, { log, version });
    log.start();
  }

  /** Starts following new extensions' backends, stops following those uninstalled. */
  async sync(): Promise<void> {
    let plans: InstallPlan[];
    try {
      plans = (await this.deps.core.get<{ items: InstallPlan[] }>('/apis/extensions.mortise.io/v1alpha1/installplans')).items;
    } catch (e) {
      this.deps.log(`platform logs: listing extensions: ${(e as Error).message}`);
      return;
    }
    const wanted = new Map<string, string>();
    for (const p of plans) if (p.status?.installedVersion) wanted.set(`extension/${p.metadata.name}`, p.status.installedVersion);
    for (const [key, f] of this.followed) {
      if (key === 'core') continue;
      if (wanted.get(key) !== f.version) {
        f.log.stop();
        this.followed.delete(key);
      }
    }
    for (const [key, version] of wanted) {
      if (this.followed.has(key)) continue;
      const name = key.slice('extension/'.length);
      this.follow(key, version, `/kapis/extensions.mortise.io/v1alpha1/extensions/${encodeURIComponent(name)}/logs`, { source: 'extension', extension: name, job: `mortise/extension/${name}` });
    }
  }
}
