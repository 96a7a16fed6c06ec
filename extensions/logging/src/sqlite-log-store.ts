import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import type { Entry, EntryQuery, Labels, LogStore, RetentionPolicy, StoredStream, StreamBatch } from './log-store.js';
import { addLine, BLOOM_BITS, mayContain, needleBits, newBloom } from './ngram-bloom.js';

// better-sqlite3 is CommonJS; createRequire keeps this file an ES module.
const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;

const DAY_NS = 86_400_000_000_000n;
/** SQLite's integers: a time bound beyond them (a query's `end` in the year 9999) means "everything that way". */
const MAX_NS = (1n << 63n) - 1n;
const MIN_NS = -(1n << 63n);
const clampNs = (ns: bigint) => (ns > MAX_NS ? MAX_NS : ns < MIN_NS ? MIN_NS : ns);
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
  writeBlock: BetterSqlite3.Statement;
  /** The block being filled, as in the database after the last append (loaded on first use). */
  open?: OpenBlock;
}

/** A block's summary: rows `block << BLOCK_SHIFT` up to the next block, their time span, streams and 4-grams. */
interface OpenBlock {
  block: number;
  minTs: bigint;
  maxTs: bigint;
  streams: Set<number>;
  bloom: Uint8Array;
}

interface BlockRow { block: bigint; min_ts: bigint; max_ts: bigint; streams: string; bloom?: Buffer }
type EntryRow = { id: bigint; ts: bigint; stream_id: bigint; line: string };

/** 1,024 consecutive rows of a partition share a block summary. */
const BLOCK_SHIFT = 10;
/** Block filters kept in memory for queries (64 MiB: the filters of 8 M lines). */
const CACHED_BLOOMS = (64 << 20) / (BLOOM_BITS / 8);

/**
 * Log lines in SQLite (WAL): a table of streams (labels indexed by name and value), and the
 * lines in time partitions — one table per `partitionNs` (a day by default), so that retention
 * drops whole tables. Each partition's rows are summarised by blocks of 1,024 (their time span,
 * their streams, and a Bloom filter of their 4-grams, see ngram-bloom.ts): a substring query
 * or one over many streams reads only the blocks that may hold what it asks, newest (or oldest)
 * first, and stops when it has enough. A line costs one row, one entry in a (stream, time) index
 * and a few bit operations — no full-text index to maintain at ingest. A batch is one
 * transaction, block summaries included: when `append` returns it is committed, and the WAL keeps
 * it through a SIGKILL.
 */
export class SqliteLogStore implements LogStore {
  private readonly db: BetterSqlite3.Database;
  private readonly partitions = new Map<bigint, Partition>();
  private readonly streamIds = new Map<string, number>();
  /** Streams per namespace, for the ingest's stream limit (kept with streamIds). */
  private readonly namespaceStreams = new Map<string, number>();
  private readonly partitionNs: bigint;
  private lastPartition: Partition | undefined;
  /** `<partition>/<block>` → its filter, least recently used first. */
  private readonly blooms = new Map<string, Uint8Array>();
  /** A reader of another connection's writes (the query workers'): it writes nothing and follows the writer's generation. */
  private readonly readOnly: boolean;
  /** The writer's generation this reader last saw (partitions made or dropped, lines removed). */
  private generation = -1;

  /**
   * `readOnly`: a second connection to a store another one writes (query-pool.ts runs queries on
   * one in a worker thread, so that a long query holds no push or tail): it reads what is
   * committed, and before each read takes in what the writer changed in its partitions.
   */
  constructor(dir: string, opts: { partitionNs?: bigint; readOnly?: boolean } = {}) {
    this.partitionNs = opts.partitionNs ?? DAY_NS;
    this.readOnly = opts.readOnly === true;
    if (this.readOnly) {
      this.db = new Database(join(dir, 'logs.db'), { readonly: true, fileMustExist: true });
      this.followWriter();
      return;
    }
    mkdirSync(dir, { recursive: true });
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
      CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
      INSERT OR IGNORE INTO store_meta (key, value) VALUES ('generation', 0);
    `);
    this.loadPartitions();
    for (const row of this.db.prepare('SELECT id, fingerprint FROM streams').all() as Array<{ id: number; fingerprint: string }>) this.streamIds.set(row.fingerprint, row.id);
    this.countStreams();
  }

  /**
   * What a reader keeps of the writer's layout — its partitions, and block filters — is good for
   * one generation: the writer moves it on with every partition made or dropped and every
   * retention that removes lines (which may reopen a block), in the same transaction.
   */
  private followWriter(): void {
    if (!this.readOnly) return;
    const g = Number((this.db.prepare(`SELECT value FROM store_meta WHERE key = 'generation'`).get() as { value: number } | undefined)?.value ?? 0);
    if (g === this.generation) return;
    this.generation = g;
    this.blooms.clear();
    this.loadPartitions();
  }

  /** The partitions as the file has them (the writer brings old ones up to date as it opens it). */
  private loadPartitions(): void {
    this.partitions.clear();
    for (const row of this.db.prepare('SELECT start_ns, end_ns, name FROM partitions').safeIntegers(true).all() as Array<{ start_ns: bigint; end_ns: bigint; name: string }>) {
      if (!this.readOnly) this.upgradePartition(row.name);
      this.partitions.set(row.start_ns, this.preparePartition(row.start_ns, row.end_ns, row.name));
    }
  }

  /** Moves the writer's generation on, inside the transaction that changes the layout (followWriter). */
  private nextGeneration(): void {
    this.db.prepare(`UPDATE store_meta SET value = value + 1 WHERE key = 'generation'`).run();
  }

  private countStreams(): void {
    this.namespaceStreams.clear();
    for (const row of this.db.prepare('SELECT namespace, count(*) AS n FROM streams GROUP BY namespace').all() as Array<{ namespace: string; n: number }>) this.namespaceStreams.set(row.namespace, row.n);
  }

  streamCount(namespace: string): number {
    return this.namespaceStreams.get(namespace) ?? 0;
  }

  newStreams(batch: StreamBatch[]): Map<string, number> {
    const fresh = new Set<string>();
    const counts = new Map<string, number>();
    for (const s of batch) {
      if (s.entries.length === 0) continue;
      const fingerprint = fingerprintOf(s);
      if (this.streamIds.has(fingerprint) || fresh.has(fingerprint)) continue;
      fresh.add(fingerprint);
      counts.set(s.namespace, (counts.get(s.namespace) ?? 0) + 1);
    }
    return counts;
  }

  private exists(table: string): boolean {
    return this.db.prepare('SELECT 1 FROM sqlite_master WHERE name = ?').get(table) !== undefined;
  }

  /** A partition written before block summaries (an FTS5 index and a time index) gets its blocks and loses those. */
  private upgradePartition(name: string): void {
    if (this.exists(`b_${name}`)) return;
    this.db.transaction(() => {
      this.db.exec(`DROP TABLE IF EXISTS f_${name}; DROP INDEX IF EXISTS e_${name}_ts;
        CREATE TABLE b_${name} (block INTEGER PRIMARY KEY, min_ts INTEGER NOT NULL, max_ts INTEGER NOT NULL, streams TEXT NOT NULL, bloom BLOB NOT NULL);`);
      const write = this.db.prepare(`INSERT INTO b_${name} (block, min_ts, max_ts, streams, bloom) VALUES (?, ?, ?, ?, ?)`);
      // A block's rows at a time: a connection cannot write while it iterates.
      const read = this.db.prepare(`SELECT ts, stream_id, line FROM e_${name} WHERE id >= ? AND id < ?`).safeIntegers(true);
      const last = Number((this.db.prepare(`SELECT max(id) AS n FROM e_${name}`).get() as { n: number | null }).n ?? -1);
      for (let block = 0; block <= last >> BLOCK_SHIFT; block++) {
        const rows = read.all(block << BLOCK_SHIFT, (block + 1) << BLOCK_SHIFT) as EntryRow[];
        if (rows.length === 0) continue;
        const open: OpenBlock = { block, minTs: 0n, maxTs: 0n, streams: new Set(), bloom: newBloom() };
        for (const row of rows) noteLine(open, row.ts, Number(row.stream_id), row.line);
        write.run(...blockValues(open));
      }
    })();
  }

  private preparePartition(startNs: bigint, endNs: bigint, name: string): Partition {
    return {
      startNs, endNs, name,
      insertEntry: this.db.prepare(`INSERT INTO e_${name} (ts, stream_id, line) VALUES (?, ?, ?)`),
      writeBlock: this.db.prepare(`INSERT OR REPLACE INTO b_${name} (block, min_ts, max_ts, streams, bloom) VALUES (?, ?, ?, ?, ?)`),
    };
  }

  private partitionFor(tsNs: bigint): Partition {
    const last = this.lastPartition;
    if (last && tsNs >= last.startNs && tsNs < last.endNs) return last;
    const start = tsNs - (((tsNs % this.partitionNs) + this.partitionNs) % this.partitionNs);
    let p = this.partitions.get(start);
    if (!p) {
      // Names are derived from numbers only: no identifier ever comes from input.
      const name = (start < 0n ? `m${-start}` : `${start}`);
      this.db.exec(`
        CREATE TABLE e_${name} (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, stream_id INTEGER NOT NULL, line TEXT NOT NULL);
        CREATE INDEX e_${name}_stream ON e_${name} (stream_id, ts);
        CREATE TABLE b_${name} (block INTEGER PRIMARY KEY, min_ts INTEGER NOT NULL, max_ts INTEGER NOT NULL, streams TEXT NOT NULL, bloom BLOB NOT NULL);
      `);
      this.db.prepare('INSERT INTO partitions (start_ns, end_ns, name) VALUES (?, ?, ?)').run(start, start + this.partitionNs, name);
      this.nextGeneration();
      p = this.preparePartition(start, start + this.partitionNs, name);
      this.partitions.set(start, p);
    }
    this.lastPartition = p;
    return p;
  }

  /** The summary of `block` in `p`, from memory, the database, or new. */
  private openBlock(p: Partition, block: number): OpenBlock {
    if (p.open?.block === block) return p.open;
    if (p.open) this.saveBlock(p, p.open);
    const row = this.db.prepare(`SELECT block, min_ts, max_ts, streams, bloom FROM b_${p.name} WHERE block = ?`).safeIntegers(true).get(block) as BlockRow | undefined;
    p.open = row
      ? { block, minTs: row.min_ts, maxTs: row.max_ts, streams: new Set(JSON.parse(row.streams) as number[]), bloom: new Uint8Array(row.bloom!) }
      : { block, minTs: 0n, maxTs: 0n, streams: new Set(), bloom: newBloom() };
    return p.open;
  }

  private saveBlock(p: Partition, b: OpenBlock): void {
    p.writeBlock.run(...blockValues(b));
    // A cached filter of this block lacks the lines just added.
    this.blooms.delete(`${p.name}/${b.block}`);
  }

  private readonly insertStream = () => this.db.prepare('INSERT INTO streams (fingerprint, labels, namespace, workspace, first_ns, last_ns) VALUES (?, ?, ?, ?, ?, ?)');
  private readonly insertLabel = () => this.db.prepare('INSERT OR IGNORE INTO stream_labels (name, value, stream_id) VALUES (?, ?, ?)');
  private readonly touchStream = () => this.db.prepare('UPDATE streams SET first_ns = min(first_ns, ?), last_ns = max(last_ns, ?) WHERE id = ?');

  private streamId(s: StreamBatch, firstNs: bigint, lastNs: bigint): number {
    const fingerprint = fingerprintOf(s);
    let id = this.streamIds.get(fingerprint);
    if (id === undefined) {
      const labels = sortedLabels(s.labels);
      id = Number(this.insertStream().run(fingerprint, JSON.stringify(labels), s.namespace, s.workspace, firstNs, lastNs).lastInsertRowid);
      const ins = this.insertLabel();
      for (const [k, v] of Object.entries(labels)) ins.run(k, v, id);
      this.streamIds.set(fingerprint, id);
      this.namespaceStreams.set(s.namespace, (this.namespaceStreams.get(s.namespace) ?? 0) + 1);
    } else {
      this.touchStream().run(firstNs, lastNs, id);
    }
    return id;
  }

  async append(batch: StreamBatch[]): Promise<number> {
    let n = 0;
    const write = this.db.transaction(() => {
      const touched = new Set<Partition>();
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
          const rowid = p.insertEntry.run(e.tsNs, id, e.line).lastInsertRowid as number;
          noteLine(this.openBlock(p, rowid >> BLOCK_SHIFT), e.tsNs, id, e.line);
          touched.add(p);
          n++;
        }
      }
      // The blocks being filled are written with the rows: a committed line is always summarised.
      for (const p of touched) this.saveBlock(p, p.open!);
    });
    // Streams and blocks changed inside a transaction that fails must not stay cached.
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
    this.lastPartition = undefined;
    for (const row of this.db.prepare('SELECT id, fingerprint FROM streams').all() as Array<{ id: number; fingerprint: string }>) this.streamIds.set(row.fingerprint, row.id);
    this.countStreams();
    for (const [start, p] of this.partitions) {
      p.open = undefined;
      if (!this.exists(`e_${p.name}`)) this.partitions.delete(start);
    }
  }

  streams(namespaces: ReadonlySet<string> | 'all', range?: { startNs: bigint; endNs: bigint }): StoredStream[] {
    this.followWriter();
    // Only the namespaces asked for are read (through their index): another tenant's streams,
    // however many, cost a query nothing (500,000 of them cost every query 1.6 s when filtered here).
    const where: string[] = [];
    const params: unknown[] = [];
    if (namespaces !== 'all') {
      where.push('namespace IN (SELECT value FROM json_each(?))');
      params.push(JSON.stringify([...namespaces]));
    }
    if (range) {
      where.push('last_ns >= ? AND first_ns < ?');
      params.push(clampNs(range.startNs), clampNs(range.endNs));
    }
    const sql = `SELECT id, labels, namespace, workspace, last_ns FROM streams${where.length ? ` WHERE ${where.join(' AND ')}` : ''}`;
    const rows = this.db.prepare(sql).safeIntegers(true).all(...params) as Array<{ id: bigint; labels: string; namespace: string; workspace: string; last_ns: bigint }>;
    return rows.map((r) => ({ id: Number(r.id), labels: JSON.parse(r.labels) as Labels, namespace: r.namespace, workspace: r.workspace, lastNs: r.last_ns }));
  }

  *entries(query: EntryQuery): Iterable<Entry> {
    if (query.streamIds.length === 0) return;
    this.followWriter();
    const q = { ...query, startNs: clampNs(query.startNs), endNs: clampNs(query.endNs) };
    const backward = q.direction === 'backward';
    const parts = [...this.partitions.values()]
      .filter((p) => p.endNs > q.startNs && p.startNs < q.endNs)
      .sort((a, b) => (a.startNs < b.startNs ? -1 : 1) * (backward ? -1 : 1));
    const needles = q.contains ?? [];
    const order = backward ? 'DESC' : 'ASC';
    for (const p of parts) {
      let rows: Iterable<EntryRow>;
      if (needles.length === 0 && q.streamIds.length <= MERGE_STREAMS) {
        // Few streams and no text to look up: each read in order from its (stream_id, ts) index, merged — the first
        // `limit` lines come without sorting every line of the range.
        // A statement runs one query at a time: one per stream.
        const sql = `SELECT id, ts, stream_id, line FROM e_${p.name} WHERE stream_id = ? AND ts >= ? AND ts < ? ORDER BY ts ${order}, id ${order}`;
        rows = mergeOrdered(q.streamIds.map((id) => this.db.prepare(sql).safeIntegers(true).iterate(id, q.startNs, q.endNs) as Iterator<EntryRow>), backward);
      } else {
        rows = this.blockScan(p, q, needles);
      }
      for (const row of rows) yield { tsNs: row.ts, streamId: Number(row.stream_id), line: row.line };
    }
  }

  /**
   * A block's filter, from the cache or the database. A reader does not keep the filter of a
   * partition's last block (`open`), which the writer is still filling.
   */
  private bloom(p: Partition, block: number, open = -1): Uint8Array {
    const key = `${p.name}/${block}`;
    let bloom = this.blooms.get(key);
    if (bloom) {
      this.blooms.delete(key);
    } else {
      bloom = (this.db.prepare(`SELECT bloom FROM b_${p.name} WHERE block = ?`).get(block) as { bloom: Buffer }).bloom;
      if (this.readOnly && block >= open) return bloom;
      if (this.blooms.size >= CACHED_BLOOMS) this.blooms.delete(this.blooms.keys().next().value!);
    }
    this.blooms.set(key, bloom);
    return bloom;
  }

  /**
   * The rows of `p` matching `q`, in order, read block by block: only blocks whose time span,
   * streams and 4-grams admit the query, in the order of their span's near end. A row is given
   * out once no block left unread can hold one that comes before it.
   */
  private *blockScan(p: Partition, q: EntryQuery, needles: readonly string[]): Generator<EntryRow> {
    const backward = q.direction === 'backward';
    const wanted = new Set(q.streamIds);
    const bits = needleBits(needles);
    const blocks: Array<{ block: number; minTs: bigint; maxTs: bigint }> = [];
    const select = this.db.prepare(`SELECT block, min_ts, max_ts, streams FROM b_${p.name} WHERE max_ts >= ? AND min_ts < ?`).safeIntegers(true);
    // The block the writer fills (a reader's filters of it would miss what it adds); read before
    // the blocks, so a block past it is read after the writer moved past it.
    const open = this.readOnly ? Number((this.db.prepare(`SELECT max(block) AS b FROM b_${p.name}`).get() as { b: number | null }).b ?? -1) : -1;
    for (const b of select.all(q.startNs, q.endNs) as BlockRow[]) {
      if (!(JSON.parse(b.streams) as number[]).some((id) => wanted.has(id))) continue;
      if (bits.length && !mayContain(this.bloom(p, Number(b.block), open), bits)) continue;
      blocks.push({ block: Number(b.block), minTs: b.min_ts, maxTs: b.max_ts });
    }
    blocks.sort(backward ? (a, b) => (a.maxTs > b.maxTs ? -1 : a.maxTs < b.maxTs ? 1 : 0) : (a, b) => (a.minTs < b.minTs ? -1 : a.minTs > b.minTs ? 1 : 0));
    const read = this.db.prepare(`SELECT id, ts, stream_id, line FROM e_${p.name} WHERE id >= ? AND id < ? AND ts >= ? AND ts < ?${needles.map(() => ' AND instr(line, ?) > 0').join('')}`).safeIntegers(true);
    const before = (a: EntryRow, b: EntryRow) => (backward ? a.ts > b.ts || (a.ts === b.ts && a.id > b.id) : a.ts < b.ts || (a.ts === b.ts && a.id < b.id));
    const cmp = (a: EntryRow, b: EntryRow) => (before(a, b) ? -1 : before(b, a) ? 1 : 0);
    let pending: EntryRow[] = [];
    let at = 0;
    for (let i = 0; ; i++) {
      const next = blocks[i];
      // Rows strictly before anything the next block could hold are final.
      while (at < pending.length && (!next || (backward ? pending[at]!.ts > next.maxTs : pending[at]!.ts < next.minTs))) yield pending[at++]!;
      if (!next) return;
      const from = BigInt(next.block) << BigInt(BLOCK_SHIFT);
      const rows = (read.all(from, from + (1n << BigInt(BLOCK_SHIFT)), q.startNs, q.endNs, ...needles) as EntryRow[]).filter((r) => wanted.has(Number(r.stream_id)));
      pending = pending.slice(at).concat(rows).sort(cmp);
      at = 0;
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
      this.db.exec(`DROP TABLE b_${p.name}; DROP TABLE e_${p.name};`);
      this.db.prepare('DELETE FROM partitions WHERE start_ns = ?').run(p.startNs);
      this.nextGeneration();
    })();
    this.partitions.delete(p.startNs);
    if (this.lastPartition === p) this.lastPartition = undefined;
    this.blooms.clear();
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    return n;
  }

  /** Deletes the rows before `cutoff` from the blocks that start before it, and narrows those blocks' summaries. */
  private deleteBefore(p: Partition, cutoff: bigint): number {
    p.open = undefined;
    return this.db.transaction(() => {
      let n = 0;
      const blocks = this.db.prepare(`SELECT block FROM b_${p.name} WHERE min_ts < ?`).safeIntegers(true).all(cutoff) as Array<{ block: bigint }>;
      for (const { block } of blocks) {
        const from = block << BigInt(BLOCK_SHIFT);
        const to = from + (1n << BigInt(BLOCK_SHIFT));
        n += this.db.prepare(`DELETE FROM e_${p.name} WHERE id >= ? AND id < ? AND ts < ?`).run(from, to, cutoff).changes;
        const left = this.db.prepare(`SELECT count(*) AS n, min(ts) AS min_ts, max(ts) AS max_ts, json_group_array(DISTINCT stream_id) AS streams FROM e_${p.name} WHERE id >= ? AND id < ?`)
          .safeIntegers(true).get(from, to) as { n: bigint; min_ts: bigint; max_ts: bigint; streams: string };
        // The Bloom filter stays: bits of deleted lines only cost a block read.
        if (left.n === 0n) this.db.prepare(`DELETE FROM b_${p.name} WHERE block = ?`).run(block);
        else this.db.prepare(`UPDATE b_${p.name} SET min_ts = ?, max_ts = ?, streams = ? WHERE block = ?`).run(left.min_ts, left.max_ts, left.streams, block);
      }
      // Rows removed from the end of a partition are ids the next lines take again: a block a
      // reader took as full may be written once more.
      if (n > 0) this.nextGeneration();
      return n;
    })();
  }

  /** Streams without a line left in any partition go, so labels and series stop naming them. */
  private dropEmptyStreams(): void {
    const live = new Set<number>();
    for (const p of this.partitions.values()) {
      for (const r of this.db.prepare(`SELECT streams FROM b_${p.name}`).all() as Array<{ streams: string }>) for (const id of JSON.parse(r.streams) as number[]) live.add(id);
    }
    this.db.transaction(() => {
      const all = this.db.prepare('SELECT id FROM streams').all() as Array<{ id: number }>;
      for (const { id } of all) {
        if (live.has(id)) continue;
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

function noteLine(b: OpenBlock, ts: bigint, streamId: number, line: string): void {
  if (b.streams.size === 0 || ts < b.minTs) b.minTs = ts;
  if (b.streams.size === 0 || ts > b.maxTs) b.maxTs = ts;
  b.streams.add(streamId);
  addLine(b.bloom, line);
}

function blockValues(b: OpenBlock): [number, bigint, bigint, string, Uint8Array] {
  return [b.block, b.minTs, b.maxTs, JSON.stringify([...b.streams]), b.bloom];
}

/** A stream's identity: its namespace and its labels in order. */
function fingerprintOf(s: { namespace: string; labels: Labels }): string {
  return JSON.stringify([s.namespace, sortedLabels(s.labels)]);
}

export function sortedLabels(labels: Labels): Labels {
  const out: Labels = {};
  for (const k of Object.keys(labels).sort()) out[k] = labels[k]!;
  return out;
}
