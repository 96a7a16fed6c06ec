import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import type { Entry, EntryQuery, Labels, LogStore, RetentionPolicy, StoredStream, StreamBatch } from './log-store.js';

// better-sqlite3 is CommonJS; createRequire keeps this file an ES module.
const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;

const DAY_NS = 86_400_000_000_000n;
/** Up to this many streams, a query reads each stream's index in order and merges them. */
const MERGE_STREAMS = 64;

/** Merges iterators each ordered by (ts, id) into one, ascending or descending. */
function* mergeOrdered<T extends { ts: bigint; id: bigint }>(sources: Array<Iterator<T>>, descending: boolean): Generator<T> {
  const heads = sources.map((it) => ({ it, row: it.next() }));
  const before = (a: T, b: T) => (descending ? a.ts > b.ts || (a.ts === b.ts && a.id > b.id) : a.ts < b.ts || (a.ts === b.ts && a.id < b.id));
  try {
    for (;;) {
      let best: (typeof heads)[number] | undefined;
      for (const h of heads) if (!h.row.done && (!best || before(h.row.value, best.row.value as T))) best = h;
      if (!best) return;
      yield best.row.value as T;
      best.row = best.it.next();
    }
  } finally {
    // A consumer that stops early (a limit) must release the statements still open.
    for (const h of heads) if (!h.row.done) h.it.return?.();
  }
}

interface Partition {
  startNs: bigint;
  endNs: bigint;
  name: string;
  insertEntry: BetterSqlite3.Statement;
  insertText: BetterSqlite3.Statement;
}

/**
 * Log lines in SQLite (WAL): a table of streams (labels indexed by name and value), and the
 * lines in time partitions — one table per `partitionNs` (a day by default) with its own FTS5
 * trigram index for substring search — so that retention drops whole tables. A batch is one
 * transaction: when `append` returns it is committed, and the WAL keeps it through a SIGKILL.
 */
export class SqliteLogStore implements LogStore {
  private readonly db: BetterSqlite3.Database;
  private readonly partitions = new Map<bigint, Partition>();
  private readonly streamIds = new Map<string, number>();
  private readonly partitionNs: bigint;

  constructor(dir: string, opts: { partitionNs?: bigint } = {}) {
    mkdirSync(dir, { recursive: true });
    this.partitionNs = opts.partitionNs ?? DAY_NS;
    this.db = new Database(join(dir, 'logs.db'));
    this.db.pragma('journal_mode = WAL');
    // NORMAL: a commit is in the WAL (the OS has it) before append returns — enough for a killed process.
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS streams (id INTEGER PRIMARY KEY, fingerprint TEXT NOT NULL UNIQUE, labels TEXT NOT NULL,
        namespace TEXT NOT NULL, workspace TEXT NOT NULL, first_ns INTEGER NOT NULL, last_ns INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS streams_namespace ON streams (namespace);
      CREATE TABLE IF NOT EXISTS stream_labels (name TEXT NOT NULL, value TEXT NOT NULL, stream_id INTEGER NOT NULL,
        PRIMARY KEY (name, value, stream_id)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS partitions (start_ns INTEGER PRIMARY KEY, end_ns INTEGER NOT NULL, name TEXT NOT NULL);
    `);
    for (const row of this.db.prepare('SELECT start_ns, end_ns, name FROM partitions').safeIntegers(true).all() as Array<{ start_ns: bigint; end_ns: bigint; name: string }>) {
      this.partitions.set(row.start_ns, this.preparePartition(row.start_ns, row.end_ns, row.name));
    }
    for (const row of this.db.prepare('SELECT id, fingerprint FROM streams').all() as Array<{ id: number; fingerprint: string }>) this.streamIds.set(row.fingerprint, row.id);
  }

  private preparePartition(startNs: bigint, endNs: bigint, name: string): Partition {
    return {
      startNs, endNs, name,
      insertEntry: this.db.prepare(`INSERT INTO e_${name} (ts, stream_id, line) VALUES (?, ?, ?)`),
      insertText: this.db.prepare(`INSERT INTO f_${name} (rowid, line) VALUES (?, ?)`),
    };
  }

  private partitionFor(tsNs: bigint): Partition {
    const start = tsNs - (((tsNs % this.partitionNs) + this.partitionNs) % this.partitionNs);
    const hit = this.partitions.get(start);
    if (hit) return hit;
    // Names are derived from numbers only: no identifier ever comes from input.
    const name = (start < 0n ? `m${-start}` : `${start}`);
    this.db.exec(`
      CREATE TABLE e_${name} (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, stream_id INTEGER NOT NULL, line TEXT NOT NULL);
      CREATE INDEX e_${name}_stream ON e_${name} (stream_id, ts);
      CREATE INDEX e_${name}_ts ON e_${name} (ts);
      CREATE VIRTUAL TABLE f_${name} USING fts5 (line, content='e_${name}', content_rowid='id', tokenize='trigram', detail='none');
    `);
    this.db.prepare('INSERT INTO partitions (start_ns, end_ns, name) VALUES (?, ?, ?)').run(start, start + this.partitionNs, name);
    const p = this.preparePartition(start, start + this.partitionNs, name);
    this.partitions.set(start, p);
    return p;
  }

  private readonly insertStream = () => this.db.prepare('INSERT INTO streams (fingerprint, labels, namespace, workspace, first_ns, last_ns) VALUES (?, ?, ?, ?, ?, ?)');
  private readonly insertLabel = () => this.db.prepare('INSERT OR IGNORE INTO stream_labels (name, value, stream_id) VALUES (?, ?, ?)');
  private readonly touchStream = () => this.db.prepare('UPDATE streams SET first_ns = min(first_ns, ?), last_ns = max(last_ns, ?) WHERE id = ?');

  private streamId(s: StreamBatch, firstNs: bigint, lastNs: bigint): number {
    const labels = sortedLabels(s.labels);
    const fingerprint = JSON.stringify([s.namespace, labels]);
    let id = this.streamIds.get(fingerprint);
    if (id === undefined) {
      id = Number(this.insertStream().run(fingerprint, JSON.stringify(labels), s.namespace, s.workspace, firstNs, lastNs).lastInsertRowid);
      const ins = this.insertLabel();
      for (const [k, v] of Object.entries(labels)) ins.run(k, v, id);
      this.streamIds.set(fingerprint, id);
    } else {
      this.touchStream().run(firstNs, lastNs, id);
    }
    return id;
  }

  async append(batch: StreamBatch[]): Promise<number> {
    let n = 0;
    const write = this.db.transaction(() => {
      for (const s of batch) {
        if (s.entries.length === 0) continue;
        let first = s.entries[0]!.tsNs;
        let last = first;
        for (const e of s.entries) {
          if (e.tsNs < first) first = e.tsNs;
          if (e.tsNs > last) last = e.tsNs;
        }
        const id = this.streamId(s, first, last);
        for (const e of s.entries) {
          const p = this.partitionFor(e.tsNs);
          const rowid = p.insertEntry.run(e.tsNs, id, e.line).lastInsertRowid;
          p.insertText.run(rowid, e.line);
          n++;
        }
      }
    });
    // Streams created inside a transaction that fails must not stay cached.
    try {
      write();
    } catch (e) {
      this.reloadStreamCache();
      throw e;
    }
    return n;
  }

  private reloadStreamCache(): void {
    this.streamIds.clear();
    for (const row of this.db.prepare('SELECT id, fingerprint FROM streams').all() as Array<{ id: number; fingerprint: string }>) this.streamIds.set(row.fingerprint, row.id);
    for (const [start, p] of this.partitions) {
      if (!this.db.prepare("SELECT 1 FROM sqlite_master WHERE name = ?").get(`e_${p.name}`)) this.partitions.delete(start);
    }
  }

  streams(namespaces: ReadonlySet<string> | 'all', range?: { startNs: bigint; endNs: bigint }): StoredStream[] {
    const rows = (range
      ? this.db.prepare('SELECT id, labels, namespace, workspace FROM streams WHERE last_ns >= ? AND first_ns < ?').all(range.startNs, range.endNs)
      : this.db.prepare('SELECT id, labels, namespace, workspace FROM streams').all()) as Array<{ id: number; labels: string; namespace: string; workspace: string }>;
    return rows
      .filter((r) => namespaces === 'all' || namespaces.has(r.namespace))
      .map((r) => ({ id: r.id, labels: JSON.parse(r.labels) as Labels, namespace: r.namespace, workspace: r.workspace }));
  }

  *entries(q: EntryQuery): Iterable<Entry> {
    if (q.streamIds.length === 0) return;
    const backward = q.direction === 'backward';
    const parts = [...this.partitions.values()]
      .filter((p) => p.endNs > q.startNs && p.startNs < q.endNs)
      .sort((a, b) => (a.startNs < b.startNs ? -1 : 1) * (backward ? -1 : 1));
    const match = trigramQuery(q.contains ?? []);
    const ids = JSON.stringify(q.streamIds);
    const order = backward ? 'DESC' : 'ASC';
    for (const p of parts) {
      const fts = match ? ` AND id IN (SELECT rowid FROM f_${p.name} WHERE f_${p.name} MATCH ?)` : '';
      type Row = { id: bigint; ts: bigint; stream_id: bigint; line: string };
      let rows: Iterable<Row>;
      if (!match && q.streamIds.length <= MERGE_STREAMS) {
        // Few streams and no text to look up: each read in order from its (stream_id, ts) index, merged — the first
        // `limit` lines come without sorting every line of the range.
        // A statement runs one query at a time: one per stream.
        const sql = `SELECT id, ts, stream_id, line FROM e_${p.name} WHERE stream_id = ? AND ts >= ? AND ts < ?${fts} ORDER BY ts ${order}, id ${order}`;
        rows = mergeOrdered(q.streamIds.map((id) => this.db.prepare(sql).safeIntegers(true).iterate(...[id, q.startNs, q.endNs, ...(match ? [match] : [])]) as Iterator<Row>), backward);
      } else {
        const stmt = this.db.prepare(`SELECT id, ts, stream_id, line FROM e_${p.name} WHERE ts >= ? AND ts < ? AND stream_id IN (SELECT value FROM json_each(?))${fts} ORDER BY ts ${order}, id ${order}`).safeIntegers(true);
        rows = stmt.iterate(...[q.startNs, q.endNs, ids, ...(match ? [match] : [])]) as Iterable<Row>;
      }
      for (const row of rows) {
        if (q.contains && !q.contains.every((c) => row.line.includes(c))) continue;
        yield { tsNs: row.ts, streamId: Number(row.stream_id), line: row.line };
      }
    }
  }

  enforceRetention(policy: RetentionPolicy, nowMs = Date.now()): number {
    let deleted = 0;
    if (policy.maxAgeMs !== undefined) {
      const cutoff = BigInt(nowMs - policy.maxAgeMs) * 1_000_000n;
      for (const p of this.sortedPartitions()) {
        if (p.endNs <= cutoff) deleted += this.dropPartition(p);
        else if (p.startNs < cutoff) deleted += this.deleteBefore(p, cutoff);
      }
    }
    if (policy.maxBytes !== undefined) {
      // Oldest partitions first, never the newest (where lines are being written).
      for (const p of this.sortedPartitions().slice(0, -1)) {
        if (this.sizeBytes() <= policy.maxBytes) break;
        deleted += this.dropPartition(p);
      }
    }
    if (deleted > 0) this.dropEmptyStreams();
    return deleted;
  }

  private sortedPartitions(): Partition[] {
    return [...this.partitions.values()].sort((a, b) => (a.startNs < b.startNs ? -1 : 1));
  }

  private dropPartition(p: Partition): number {
    const n = (this.db.prepare(`SELECT count(*) AS n FROM e_${p.name}`).get() as { n: number }).n;
    this.db.transaction(() => {
      this.db.exec(`DROP TABLE f_${p.name}; DROP TABLE e_${p.name};`);
      this.db.prepare('DELETE FROM partitions WHERE start_ns = ?').run(p.startNs);
    })();
    this.partitions.delete(p.startNs);
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    return n;
  }

  private deleteBefore(p: Partition, cutoff: bigint): number {
    return this.db.transaction(() => {
      // External-content FTS: the index forgets a row when told its old text.
      this.db.prepare(`INSERT INTO f_${p.name} (f_${p.name}, rowid, line) SELECT 'delete', id, line FROM e_${p.name} WHERE ts < ?`).run(cutoff);
      return this.db.prepare(`DELETE FROM e_${p.name} WHERE ts < ?`).run(cutoff).changes;
    })();
  }

  /** Streams without a line left in any partition go, so labels and series stop naming them. */
  private dropEmptyStreams(): void {
    const live = this.sortedPartitions().map((p) => `SELECT stream_id FROM e_${p.name}`).join(' UNION ');
    this.db.transaction(() => {
      const dead = this.db.prepare(`SELECT id FROM streams${live ? ` WHERE id NOT IN (${live})` : ''}`).all() as Array<{ id: number }>;
      for (const { id } of dead) {
        this.db.prepare('DELETE FROM streams WHERE id = ?').run(id);
        this.db.prepare('DELETE FROM stream_labels WHERE stream_id = ?').run(id);
      }
    })();
    this.reloadStreamCache();
  }

  /** Bytes in use (pages not on the free list): what retention by size bounds. */
  sizeBytes(): number {
    const pageSize = this.db.pragma('page_size', { simple: true }) as number;
    const pages = this.db.pragma('page_count', { simple: true }) as number;
    const free = this.db.pragma('freelist_count', { simple: true }) as number;
    return (pages - free) * pageSize;
  }

  close(): void {
    this.db.close();
  }
}

/**
 * The index holds trigrams without positions (detail=none: a third of the size and work), so a
 * substring becomes "all of its trigrams" — candidates that every line is then checked against.
 * Needles under three characters are checked on the lines only.
 */
function trigramQuery(needles: string[]): string {
  const grams = new Set<string>();
  for (const n of needles) {
    const chars = [...n.toLowerCase()];
    for (let i = 0; i + 3 <= chars.length; i++) grams.add(chars.slice(i, i + 3).join(''));
  }
  // The rarest trigrams are unknown here; a bounded spread of them keeps the query cheap.
  const list = [...grams];
  const step = Math.max(1, Math.ceil(list.length / 12));
  return list.filter((_, i) => i % step === 0).map((g) => `"${g.replace(/"/g, '""')}"`).join(' AND ');
}

export function sortedLabels(labels: Labels): Labels {
  const out: Labels = {};
  for (const k of Object.keys(labels).sort()) out[k] = labels[k]!;
  return out;
}
