import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { InvalidContinueError, type AuditEvent, type AuditFilter, type AuditLog, type AuditPage, type AuditRetention } from './audit-log.js';

export interface SqliteAuditLogOptions {
  /** The store's database file (its own table, its own connection), or ':memory:'. */
  path: string;
  retention?: AuditRetention;
  logger?: Logger;
  /** Queued events are written at the latest this long after the first of them (default 100 ms). */
  flushIntervalMs?: number;
  /** ... or as soon as this many are queued (default 500). */
  batchSize?: number;
  /** How often age and count bounds are enforced besides every flush (default 60 s). */
  pruneIntervalMs?: number;
}

export const defaultAuditRetention = { maxEvents: 100_000, maxAgeDays: 30 } as const;
export const defaultAuditLimit = 500;
export const maxAuditLimit = 5000;

const dayMs = 24 * 60 * 60 * 1000;
/** Rows deleted per statement, so a large prune never stalls the event loop for long. */
const pruneChunk = 5000;
const exportPage = 1000;

type Row = { id: number; data: string };

/**
 * The audit log in the store's SQLite file (WAL), in its own table on its own connection.
 * `record` only queues: a timer (or a full batch) writes the queue in one transaction, so a
 * request pays for an array push, not for a disk write. Retention is bounded by count (checked
 * on every flush) and by age (checked periodically).
 */
export class SqliteAuditLog implements AuditLog {
  private readonly db: Database.Database;
  private readonly logger?: Logger;
  private readonly maxEvents: number;
  private readonly maxAgeMs: number;
  private readonly flushIntervalMs: number;
  private readonly batchSize: number;
  private queue: AuditEvent[] = [];
  private flushTimer?: NodeJS.Timeout;
  private immediate?: NodeJS.Immediate;
  private readonly pruneTimer: NodeJS.Timeout;
  private pruning?: Promise<void>;
  private lastId: number;
  private closed = false;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly stmts;
  private readonly insertBatch: (events: AuditEvent[]) => void;

  constructor(opts: SqliteAuditLogOptions) {
    this.logger = opts.logger;
    this.maxEvents = opts.retention?.maxEvents ?? defaultAuditRetention.maxEvents;
    this.maxAgeMs = (opts.retention?.maxAgeDays ?? defaultAuditRetention.maxAgeDays) * dayMs;
    this.flushIntervalMs = opts.flushIntervalMs ?? 100;
    this.batchSize = opts.batchSize ?? 500;
    if (opts.path !== ':memory:') mkdirSync(dirname(opts.path), { recursive: true });
    this.db = new Database(opts.path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    // One column per filter; nullable ones (non-resource requests have no resource) get
    // partial indexes. Every filter index ends in id: newest-first pages walk it in order.
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS audit_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        audit_id TEXT NOT NULL,
        ts INTEGER NOT NULL,
        username TEXT NOT NULL,
        verb TEXT NOT NULL,
        api_group TEXT,
        resource TEXT,
        namespace TEXT,
        name TEXT,
        workspace TEXT,
        code INTEGER NOT NULL,
        data TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS audit_by_ts ON audit_events (ts);
      CREATE INDEX IF NOT EXISTS audit_by_audit_id ON audit_events (audit_id);
      CREATE INDEX IF NOT EXISTS audit_by_user ON audit_events (username, id);
      CREATE INDEX IF NOT EXISTS audit_by_verb ON audit_events (verb, id);
      CREATE INDEX IF NOT EXISTS audit_by_code ON audit_events (code, id);
      CREATE INDEX IF NOT EXISTS audit_by_resource ON audit_events (resource, id) WHERE resource IS NOT NULL;
      CREATE INDEX IF NOT EXISTS audit_by_namespace ON audit_events (namespace, id) WHERE namespace IS NOT NULL;
      CREATE INDEX IF NOT EXISTS audit_by_name ON audit_events (name, id) WHERE name IS NOT NULL;
      CREATE INDEX IF NOT EXISTS audit_by_workspace ON audit_events (workspace, id) WHERE workspace IS NOT NULL;
    `);
    const db = this.db;
    this.stmts = {
      insert: db.prepare(`INSERT INTO audit_events (audit_id, ts, username, verb, api_group, resource, namespace, name, workspace, code, data)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      maxId: db.prepare(`SELECT COALESCE(MAX(id), 0) AS id FROM audit_events`),
      byAuditId: db.prepare(`SELECT data FROM audit_events WHERE audit_id = ? ORDER BY id DESC LIMIT 1`),
      pruneBelow: db.prepare(`DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE id <= ? ORDER BY id LIMIT ${pruneChunk})`),
      pruneOlder: db.prepare(`DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE ts < ? LIMIT ${pruneChunk})`),
    };
    this.insertBatch = db.transaction((events: AuditEvent[]) => {
      for (const e of events) {
        const ref = e.objectRef;
        const info = this.stmts.insert.run(
          e.auditID, Date.parse(e.requestReceivedTimestamp) || Date.now(), e.user.username, e.verb,
          ref ? (ref.apiGroup ?? '') : null, ref?.resource || null, ref?.namespace || null, ref?.name || null, ref?.workspace || null,
          e.responseStatus.code, JSON.stringify(e),
        );
        this.lastId = Number(info.lastInsertRowid);
      }
    });
    this.lastId = (this.stmts.maxId.get() as { id: number }).id;
    this.pruneTimer = setInterval(() => void this.prune(), opts.pruneIntervalMs ?? 60_000).unref();
    // Bounds may have shrunk since the last run (or the core was down for a month).
    setImmediate(() => void this.prune()).unref();
  }

  record(event: AuditEvent): void {
    if (this.closed) return;
    this.queue.push(event);
    if (this.queue.length >= this.batchSize) {
      // Written right after this request's turn of the event loop, not inside it.
      this.immediate ??= setImmediate(() => this.flushNow());
    } else if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => this.flushNow(), this.flushIntervalMs).unref();
    }
  }

  /** The WAL size in pages at which a commit checkpoints the file itself (SQLite's default: 1,000); raised while a WalCheckpointer runs. */
  setAutoCheckpoint(pages: number): void {
    this.db.pragma(`wal_autocheckpoint = ${Math.max(0, Math.floor(pages))}`);
  }

  /** Events queued and not yet written (for tests and metrics). */
  get pending(): number {
    return this.queue.length;
  }

  async flush(): Promise<void> {
    this.flushNow();
  }

  async query(filter: AuditFilter): Promise<AuditPage> {
    this.flushNow();
    const limit = Math.min(Math.max(1, Math.floor(filter.limit ?? defaultAuditLimit)), maxAuditLimit);
    const fingerprint = fingerprintOf(filter);
    const before = filter.continue ? decodeContinue(filter.continue, fingerprint) : undefined;
    const { conds, params } = whereOf(filter);
    if (before !== undefined) {
      conds.push('id < ?');
      params.push(before);
    }
    const rows = this.prepared(`SELECT id, data FROM audit_events${where(conds)} ORDER BY id DESC LIMIT ?`).all(...params, limit + 1) as Row[];
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    return {
      items: page.map((r) => JSON.parse(r.data) as AuditEvent),
      ...(more ? { continue: encodeContinue(page[page.length - 1]!.id, fingerprint) } : {}),
    };
  }

  async *export(filter: AuditFilter): AsyncIterable<AuditEvent> {
    this.flushNow();
    // Events recorded while the export runs are not part of it: it ends.
    const upTo = (this.stmts.maxId.get() as { id: number }).id;
    const { conds, params } = whereOf(filter);
    const sql = `SELECT id, data FROM audit_events${where([...conds, 'id > ?', 'id <= ?'])} ORDER BY id LIMIT ${exportPage}`;
    let after = 0;
    for (;;) {
      // A page at a time: an open better-sqlite3 iterator would lock the connection while a
      // slow client reads, and the flushes would have to wait for it.
      if (this.closed) return;
      const rows = this.prepared(sql).all(...params, after, upTo) as Row[];
      for (const r of rows) yield JSON.parse(r.data) as AuditEvent;
      if (rows.length < exportPage) return;
      after = rows[rows.length - 1]!.id;
    }
  }

  /** The event with this auditID, if still kept. */
  async get(auditID: string): Promise<AuditEvent | undefined> {
    this.flushNow();
    const row = this.stmts.byAuditId.get(auditID) as { data: string } | undefined;
    return row ? (JSON.parse(row.data) as AuditEvent) : undefined;
  }

  /** Enforces both bounds now (it also runs on a timer). */
  prune(now = Date.now()): Promise<void> {
    this.pruning ??= this.pruneAll(now).finally(() => {
      this.pruning = undefined;
    });
    return this.pruning;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.pruneTimer);
    await this.pruning;
    this.flushNow();
    this.closed = true;
    if (this.db.open) this.db.close();
  }

  private flushNow() {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    if (this.immediate) clearImmediate(this.immediate);
    this.flushTimer = this.immediate = undefined;
    if (this.closed || this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    try {
      this.insertBatch(batch);
    } catch (e) {
      this.logger?.error({ event: 'audit.write-failed', dropped: batch.length, err: (e as Error).message }, 'could not write audit events');
      return;
    }
    // The count bound, on every flush: a cheap range delete on the primary key.
    if (this.maxEvents > 0 && this.deleteChunk(this.stmts.pruneBelow, this.lastId - this.maxEvents) === pruneChunk) void this.prune();
  }

  private async pruneAll(now: number) {
    const yieldToRequests = () => new Promise<void>((r) => setImmediate(r));
    if (this.maxEvents > 0) {
      while (!this.closed && this.deleteChunk(this.stmts.pruneBelow, this.lastId - this.maxEvents) === pruneChunk) await yieldToRequests();
    }
    if (this.maxAgeMs > 0) {
      while (!this.closed && this.deleteChunk(this.stmts.pruneOlder, now - this.maxAgeMs) === pruneChunk) await yieldToRequests();
    }
  }

  private deleteChunk(stmt: Database.Statement, bound: number): number {
    if (this.closed || !this.db.open) return 0;
    try {
      return stmt.run(bound).changes;
    } catch (e) {
      this.logger?.warn({ event: 'audit.prune-failed', err: (e as Error).message }, 'could not prune the audit log');
      return 0;
    }
  }

  private prepared(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) this.statements.set(sql, (s = this.db.prepare(sql)));
    return s;
  }
}

const where = (conds: string[]) => (conds.length ? ` WHERE ${conds.join(' AND ')}` : '');

function whereOf(f: AuditFilter): { conds: string[]; params: unknown[] } {
  const conds: string[] = [];
  const params: unknown[] = [];
  const eq = (column: string, value: string | undefined) => {
    if (value === undefined) return;
    conds.push(`${column} = ?`);
    params.push(value);
  };
  eq('username', f.user);
  eq('verb', f.verb);
  eq('api_group', f.apiGroup);
  eq('resource', f.resource);
  eq('namespace', f.namespace);
  eq('workspace', f.workspace);
  eq('name', f.name);
  if (typeof f.code === 'number') {
    conds.push('code = ?');
    params.push(f.code);
  } else if (f.code) {
    conds.push('code BETWEEN ? AND ?');
    params.push(f.code.min, f.code.max);
  }
  if (f.since) {
    conds.push('ts >= ?');
    params.push(f.since.getTime());
  }
  if (f.until) {
    conds.push('ts < ?');
    params.push(f.until.getTime());
  }
  return { conds, params };
}

/** Ties a continue token to its query, so it cannot be replayed against another filter. */
function fingerprintOf(f: AuditFilter): string {
  const { limit: _limit, continue: _continue, since, until, ...rest } = f;
  const canonical = JSON.stringify([
    Object.entries(rest).filter(([, v]) => v !== undefined).sort(([a], [b]) => a.localeCompare(b)),
    since?.getTime(), until?.getTime(),
  ]);
  return createHash('sha256').update(canonical).digest('base64url').slice(0, 12);
}

function encodeContinue(id: number, fingerprint: string): string {
  return Buffer.from(JSON.stringify({ v: 1, id, q: fingerprint })).toString('base64url');
}

function decodeContinue(token: string, fingerprint: string): number {
  let parsed: { v?: unknown; id?: unknown; q?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as typeof parsed;
  } catch {
    throw new InvalidContinueError('the continue token is not valid');
  }
  if (parsed?.v !== 1 || typeof parsed.id !== 'number' || !Number.isSafeInteger(parsed.id) || parsed.id < 0) {
    throw new InvalidContinueError('the continue token is not valid');
  }
  if (parsed.q !== fingerprint) throw new InvalidContinueError('the continue token was issued for a different query: repeat the same filters');
  return parsed.id;
}
