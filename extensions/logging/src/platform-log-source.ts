import { join } from 'node:path';
import type { CoreClient } from '@mortise/extension-sdk/backend';
import type { AppendedEvents } from './ingest.js';
import { readJsonFile, writeJsonFile } from './json-file.js';
import type { Labels, LogStore } from './log-store.js';

// The platform's own logs as streams readable only with cluster-wide permission (namespace ''):
// the core's log ({source="core"}, GET /kapis/ops.mortise.io/v1alpha1/logs) and every installed
// extension backend's ({source="extension", extension="<name>"}, GET
// /kapis/extensions.mortise.io/v1alpha1/extensions/<name>/logs), each followed with sequence
// numbers and timestamps. The core keeps these logs in files within a size cap, numbered across
// its restarts; the number of the last stored line is kept here (per log, and per backend
// version), so a restarted or re-enabled extension asks for exactly the lines after it
// (`sinceSeq`): none lost that the core still holds, none stored twice. Lines that rotated away
// meanwhile arrive as one marker line of the core's saying how many.

/** The last stored line's number in the log of `version` (the backend's; '' for the core's). */
interface Cursor {
  seq: number;
  version?: string;
  /** A cursor written before lines were numbered (no `seq` worth trusting, no version): the last stored line's time. */
  time?: string;
}

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

  get(key: string): Cursor | undefined {
    const c = this.all[key];
    return c && { ...c };
  }

  set(key: string, c: Cursor): void {
    this.all[key] = { ...c };
    writeJsonFile(this.file, this.all);
  }
}

interface Deps { core: CoreClient; store: LogStore; events: AppendedEvents; log: (msg: string) => void }

/** `<seq> <time> <line>`, as the core answers with `seq=true&timestamps=true`. */
const NUMBERED = /^(\d+) (\S+) /;

/** One followed log: reconnects when the answer ends or fails, after the last line it stored. */
class FollowedLog {
  private readonly abort = new AbortController();
  private pending: Array<{ tsNs: bigint; line: string; seq: number }> = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing = Promise.resolve();

  constructor(private readonly deps: Deps & { cursors: Cursors }, readonly key: string, private readonly version: string, private readonly path: string, private readonly labels: Labels) {}

  start(): void {
    void this.run();
  }

  stop(): void {
    this.abort.abort();
    clearTimeout(this.timer);
  }

  private async run(): Promise<void> {
    while (!this.abort.signal.aborted) {
      const stored = this.deps.cursors.get(this.key);
      // Another version's log (an upgrade) is read from its start.
      const cursor = stored && (stored.version === undefined || stored.version === this.version) ? stored : undefined;
      // Numbered lines are taken after the cursor; a cursor of before numbers skips by time.
      let after = cursor?.time === undefined ? cursor?.seq ?? 0 : 0;
      const notAfter = cursor?.time;
      try {
        const query = { follow: true, timestamps: true, seq: true, sinceSeq: after };
        for await (const text of this.deps.core.lines(this.path, { query, signal: this.abort.signal })) {
          const m = NUMBERED.exec(text);
          const ms = m ? Date.parse(m[2]!) : NaN;
          if (!m || Number.isNaN(ms)) continue;
          const seq = Number(m[1]);
          if (seq <= after || (notAfter !== undefined && m[2]! <= notAfter)) continue;
          after = seq;
          this.pending.push({ tsNs: BigInt(ms) * 1_000_000n, line: text.slice(m[0].length), seq });
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
      const batch = [{ labels: this.labels, namespace: '', workspace: '', entries: entries.map(({ tsNs, line }) => ({ tsNs, line })) }];
      await this.deps.store.append(batch);
      this.deps.events.emit('appended', batch);
      this.deps.cursors.set(this.key, { seq: entries[entries.length - 1]!.seq, version: this.version });
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
    const log = new FollowedLog({ ...this.deps, cursors: this.cursors }, key, version, path, labels);
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
