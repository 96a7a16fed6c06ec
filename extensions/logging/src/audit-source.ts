import { join } from 'node:path';
import type { CoreClient } from '@mortise/extension-sdk/backend';
import type { AppendedEvents } from './ingest.js';
import { readJsonFile, writeJsonFile } from './json-file.js';
import type { LogStore, StreamBatch } from './log-store.js';

// The core's audit events as platform logs ({source="audit"}, readable only with cluster-wide
// permission): read through the audit API (`list events.audit.mortise.io`) every few seconds,
// from where the last read stopped (a cursor in the data directory).

interface AuditEvent { auditID: string; stageTimestamp: string; verb: string; user: { username: string }; objectRef?: { namespace?: string }; responseStatus: { code: number } }
interface Cursor { since: string; seen: string[] }

export class AuditSource {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private readonly cursorFile: string;

  constructor(private readonly deps: { core: CoreClient; store: LogStore; events: AppendedEvents; dataDir: string; intervalMs: number; log: (msg: string) => void }) {
    this.cursorFile = join(deps.dataDir, 'audit-cursor.json');
  }

  start(): void {
    this.timer = setInterval(() => void this.poll(), this.deps.intervalMs);
    this.timer.unref();
    void this.poll();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private cursor(): Cursor {
    return readJsonFile<Cursor>(this.cursorFile, { since: new Date(Date.now() - 3_600_000).toISOString(), seen: [] });
  }

  /** Reads the events since the cursor (oldest first), stores them, then moves the cursor. */
  async poll(): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    try {
      const cursor = this.cursor();
      const events: AuditEvent[] = [];
      let next: string | undefined;
      do {
        const page = await this.deps.core.request<{ items: AuditEvent[]; metadata?: { continue?: string } }>('GET', '/kapis/audit.mortise.io/v1alpha1/events', undefined, {
          query: { since: cursor.since, limit: 500, ...(next ? { continue: next } : {}) },
        });
        events.push(...page.items);
        next = page.metadata?.continue || undefined;
      } while (next && events.length < 50_000);
      const seen = new Set(cursor.seen);
      const fresh = events.filter((e) => !seen.has(e.auditID)).sort((a, b) => a.stageTimestamp.localeCompare(b.stageTimestamp));
      if (fresh.length === 0) return 0;
      const batch: StreamBatch[] = [{
        labels: { source: 'audit', job: 'mortise/audit' }, namespace: '', workspace: '',
        entries: fresh.map((e) => ({ tsNs: BigInt(Date.parse(e.stageTimestamp)) * 1_000_000n, line: JSON.stringify(e) })),
      }];
      await this.deps.store.append(batch);
      this.deps.events.emit('appended', batch);
      const last = fresh[fresh.length - 1]!.stageTimestamp;
      const next2: Cursor = { since: last, seen: events.filter((e) => e.stageTimestamp === last).map((e) => e.auditID) };
      writeJsonFile(this.cursorFile, next2);
      return fresh.length;
    } catch (e) {
      this.deps.log(`audit source: ${(e as Error).message}`);
      return 0;
    } finally {
      this.running = false;
    }
  }
}
