import Database from 'better-sqlite3';
import type {
  KubeObject, ListOptions, ListResult, ObjectKey, ResourceRef, ResourceStore, StoreDeleteOptions, StoreDeleteResult, StoreEvent,
  WatchErrorHandler, WatchOptions, Watcher,
} from './resource-store.js';
import { StoreError } from './resource-store.js';
import { deleteWithFinalizers, pendingFinalizers } from './deletion.js';
import type { ValueCodec } from './encryption-keys.js';
import { StoredJsonCache } from './stored-json-cache.js';

export interface SqliteStoreOptions {
  /** A file path, or ':memory:' for tests. */
  path: string;
  /** How many watch events are kept for replay; older resourceVersions answer 410 Gone. */
  eventRetention?: number;
  /** Resources (`group/resource`, e.g. `/secrets`) whose objects are stored sealed by `codec`. */
  encrypted?: { resources: string[]; codec: ValueCodec };
  /**
   * Opens an existing file for reading only (a serving worker's replica, core/src/cluster): no
   * schema, no migration, no resealing; writes fail. The writer keeps the file in WAL mode, so
   * reads here see every commit as soon as it is made and never block it.
   */
  readOnly?: boolean;
  /**
   * A read-only store whose owner hands it every commit of the writer, in order, before anything
   * can read what the commit changed (`forgetCommitted`): it may keep a read cache too.
   */
  toldOfCommits?: boolean;
  /** Characters of recently read JSON kept in memory for reads (not for sealed resources, nor a read-only store not told of commits); 0: none. */
  readCacheChars?: number;
}

type Listener = { namespace?: string; onEvent: (e: StoreEvent) => void };

const refKey = (ref: ResourceRef) => `${ref.group}/${ref.resource}`;

/**
 * The embedded store: one SQLite file in WAL mode. Every write is one transaction that bumps
 * a global counter (the resourceVersion), writes the object and appends a watch event, so a
 * crash never leaves half an object and resourceVersions stay monotonic across restarts.
 */
export class SqliteStore implements ResourceStore {
  private readonly db: Database.Database;
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly retention: number;
  private writesSincePrune = 0;
  private readonly stmts;
  private readonly sealed: Set<string>;
  private readonly codec?: ValueCodec;
  /** Recent reads, where this store is the file's only writer (it sees every write). */
  private readonly cache?: StoredJsonCache;
  private readonly readOnly: boolean;
  /**
   * Namespaces known to be live. This connection is the file's only writer and every write to a
   * namespace drops its entry as it commits (afterWrite), so the set is never behind the file.
   */
  private readonly liveNamespaces = new Map<string, KubeObject>();

  constructor(opts: SqliteStoreOptions) {
    this.retention = opts.eventRetention ?? 100_000;
    this.sealed = new Set(opts.encrypted?.resources ?? []);
    this.codec = opts.encrypted?.codec;
    const cacheChars = opts.readCacheChars ?? 32 * 1024 * 1024;
    if ((!opts.readOnly || opts.toldOfCommits) && cacheChars > 0) this.cache = new StoredJsonCache(cacheChars);
    this.readOnly = opts.readOnly === true;
    this.db = new Database(opts.path, { readonly: opts.readOnly === true, fileMustExist: opts.readOnly === true });
    if (!opts.readOnly) {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
    }
    this.db.pragma('busy_timeout = 5000');
    if (!opts.readOnly) this.createSchema();
    const db = this.db;
    this.stmts = {
      nextRv: db.prepare(`UPDATE meta SET value = value + 1 WHERE key = 'resourceVersion' RETURNING value`),
      currentRv: db.prepare(`SELECT value FROM meta WHERE key = 'resourceVersion'`),
      // A write first (it takes the write lock), then the counter: what a batch of creates numbers from.
      lockRv: db.prepare(`UPDATE meta SET value = value WHERE key = 'resourceVersion' RETURNING value`),
      setRv: db.prepare(`UPDATE meta SET value = ? WHERE key = 'resourceVersion'`),
      get: db.prepare(`SELECT rv, data FROM objects WHERE resource = ? AND namespace = ? AND name = ?`),
      insert: db.prepare(`INSERT INTO objects (resource, namespace, name, uid, rv, data) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
      update: db.prepare(`UPDATE objects SET uid = ?, rv = ?, data = ? WHERE resource = ? AND namespace = ? AND name = ?`),
      remove: db.prepare(`DELETE FROM objects WHERE resource = ? AND namespace = ? AND name = ?`),
      listAll: db.prepare(`SELECT namespace, name, data FROM objects WHERE resource = ? AND (namespace, name) > (?, ?) ORDER BY namespace, name LIMIT ?`),
      listNs: db.prepare(`SELECT namespace, name, data FROM objects WHERE resource = ? AND namespace = ? AND name > ? ORDER BY name LIMIT ?`),
      event: db.prepare(`INSERT INTO events (rv, resource, namespace, name, type, data, prev_labels) VALUES (?, ?, ?, ?, ?, ?, ?)`),
      replay: db.prepare(`SELECT rv, namespace, name, type, data, prev_labels FROM events WHERE resource = ? AND rv > ? ORDER BY rv`),
      oldestEvent: db.prepare(`SELECT MIN(rv) AS rv FROM events`),
      namespaceCreatedAfter: db.prepare(`SELECT MAX(rv) AS rv FROM events WHERE resource = '/namespaces' AND rv > ? AND name = ? AND type = 'ADDED'`),
      prune: db.prepare(`DELETE FROM events WHERE rv <= ?`),
      ownersOf: db.prepare(`DELETE FROM owner_refs WHERE resource = ? AND namespace = ? AND name = ?`),
      addOwner: db.prepare(`INSERT OR IGNORE INTO owner_refs (owner_uid, resource, namespace, name) VALUES (?, ?, ?, ?)`),
      dangling: db.prepare(`SELECT DISTINCT owner_uid FROM owner_refs WHERE owner_uid NOT IN (SELECT uid FROM objects)`),
      dependents: db.prepare(`SELECT o.resource, o.data FROM owner_refs r JOIN objects o
        ON o.resource = r.resource AND o.namespace = r.namespace AND o.name = r.name WHERE r.owner_uid = ?`),
    };
    this.inTransaction = db.transaction((work: () => unknown) => work()) as <T>(work: () => T) => T;
    if (!opts.readOnly) this.resealStale();
  }

  private createSchema(): void {
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
      INSERT OR IGNORE INTO meta (key, value) VALUES ('resourceVersion', 0);
      CREATE TABLE IF NOT EXISTS objects (
        resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
        uid TEXT NOT NULL, rv INTEGER NOT NULL, data TEXT NOT NULL,
        PRIMARY KEY (resource, namespace, name)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS events (
        rv INTEGER PRIMARY KEY, resource TEXT NOT NULL, namespace TEXT NOT NULL,
        name TEXT NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS events_by_resource ON events (resource, rv);
      CREATE TABLE IF NOT EXISTS owner_refs (
        owner_uid TEXT NOT NULL, resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
        PRIMARY KEY (owner_uid, resource, namespace, name)
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS owner_refs_by_object ON owner_refs (resource, namespace, name);
      CREATE INDEX IF NOT EXISTS objects_by_uid ON objects (uid);
    `);
    // The labels an object had before a MODIFIED event (when they changed), so a replayed watch
    // with a label selector still sees objects enter and leave it. Added to older files here.
    if (!(this.db.pragma('table_info(events)') as Array<{ name: string }>).some((c) => c.name === 'prev_labels')) {
      this.db.exec('ALTER TABLE events ADD COLUMN prev_labels TEXT');
    }
  }

  /** The text stored for an object of `key` (sealed for encrypted resources). */
  private encode(key: string, json: string): string {
    return this.codec && this.sealed.has(key) ? this.codec.seal(json) : json;
  }

  private decode(key: string, stored: string): string {
    return this.codec && this.sealed.has(key) ? this.codec.open(stored) : stored;
  }

  /**
   * Re-encrypts rows of encrypted resources that are plaintext (written before encryption) or
   * sealed with an older key: what makes a key rotation complete at the next start.
   */
  private resealStale() {
    if (!this.codec || this.sealed.size === 0) return;
    const codec = this.codec;
    const reseal = this.db.transaction(() => {
      for (const key of this.sealed) {
        for (const table of ['objects', 'events'] as const) {
          const cols = table === 'objects' ? 'namespace, name' : 'rv';
          const rows = this.db.prepare(`SELECT ${cols}, data FROM ${table} WHERE resource = ?`).all(key) as Array<{ namespace?: string; name?: string; rv?: number; data: string }>;
          const write = this.db.prepare(table === 'objects'
            ? `UPDATE objects SET data = ? WHERE resource = ? AND namespace = ? AND name = ?`
            : `UPDATE events SET data = ? WHERE resource = ? AND rv = ?`);
          for (const r of rows) {
            if (!codec.isStale(r.data)) continue;
            const sealedData = codec.seal(codec.open(r.data));
            if (table === 'objects') write.run(sealedData, key, r.namespace, r.name);
            else write.run(sealedData, key, r.rv);
          }
        }
      }
    });
    reseal();
  }

  async get(key: ObjectKey): Promise<KubeObject | undefined> {
    const data = this.getRaw(key);
    return data === undefined ? undefined : (JSON.parse(data) as KubeObject);
  }

  /** One object's stored JSON (decrypted), for responses that need no transformation. */
  getRaw(key: ObjectKey): string | undefined {
    const rk = refKey(key);
    const cache = this.cacheFor(rk);
    const cached = cache?.getObject(rk, key.namespace, key.name);
    if (cached !== undefined) return cached;
    const row = this.stmts.get.get(rk, key.namespace, key.name) as { data: string } | undefined;
    if (!row) return undefined;
    const json = this.decode(rk, row.data);
    cache?.setObject(rk, key.namespace, key.name, json);
    return json;
  }

  /** The read cache, for reads outside a write transaction (whose rows might yet roll back) of unsealed resources. */
  private cacheFor(rk: string): StoredJsonCache | undefined {
    return this.cache && !this.sealed.has(rk) && !this.db.inTransaction ? this.cache : undefined;
  }

  /** The Namespace a create checks (to be read, not changed): a live one from memory, as of the last commit. */
  async namespaceForCreate(name: string): Promise<KubeObject | undefined> {
    const known = this.liveNamespaces.get(name);
    if (known) return known;
    const ns = await this.get({ group: '', resource: 'namespaces', namespace: '', name });
    // A replica's file is written by another process: it remembers nothing.
    if (ns && !ns.metadata.deletionTimestamp && !this.readOnly) this.liveNamespaces.set(name, ns);
    return ns;
  }

  /** Raw JSON rows, for list responses that need no transformation. */
  listRaw(ref: ResourceRef, opts: ListOptions = {}): { rows: string[]; resourceVersion: string; last?: { namespace: string; name: string } } {
    const limit = opts.limit ?? -1;
    const rk = refKey(ref);
    // A whole collection read again before a write to it: the current resourceVersion is still its version.
    const cache = limit < 0 && !opts.after ? this.cacheFor(rk) : undefined;
    const cached = cache?.getList(rk, opts.namespace);
    if (cached) return { rows: cached, resourceVersion: String((this.stmts.currentRv.get() as { value: number }).value) };
    const read = this.db.transaction(() => {
      const rv = (this.stmts.currentRv.get() as { value: number }).value;
      const rows = (opts.namespace !== undefined
        ? this.stmts.listNs.all(refKey(ref), opts.namespace, opts.after && opts.after.namespace === opts.namespace ? opts.after.name : '', limit)
        : this.stmts.listAll.all(refKey(ref), opts.after?.namespace ?? '', opts.after?.name ?? '', limit)) as Array<{ namespace: string; name: string; data: string }>;
      return { rv, rows };
    });
    const { rv, rows } = read();
    const lastRow = rows[rows.length - 1];
    const decoded = rows.map((r) => this.decode(rk, r.data));
    cache?.setList(rk, opts.namespace, decoded);
    return {
      rows: decoded,
      resourceVersion: String(rv),
      last: limit > 0 && rows.length === limit && lastRow ? { namespace: lastRow.namespace, name: lastRow.name } : undefined,
    };
  }

  /**
   * A whole collection's rows from the read cache, read now if they are not there and fit. A
   * collection too big to keep, a sealed one, or a read inside a write: undefined, without
   * reading it again until a write to it (the caller then pages through `list`).
   */
  listRawKept(ref: ResourceRef, namespace: string | undefined): { rows: string[]; resourceVersion: string } | undefined {
    const rk = refKey(ref);
    const cache = this.cacheFor(rk);
    if (!cache || cache.isTooBig(rk, namespace)) return undefined;
    const raw = this.listRaw(ref, { namespace });
    return cache.getList(rk, namespace) === raw.rows ? raw : undefined;
  }

  async list(ref: ResourceRef, opts: ListOptions = {}): Promise<ListResult> {
    const raw = this.listRaw(ref, opts);
    return { items: raw.rows.map((d) => JSON.parse(d) as KubeObject), resourceVersion: raw.resourceVersion, last: raw.last };
  }

  async listDependents(ownerUid: string): Promise<Array<{ ref: ResourceRef; object: KubeObject }>> {
    const rows = this.stmts.dependents.all(ownerUid) as Array<{ resource: string; data: string }>;
    return rows.map((r) => {
      const slash = r.resource.indexOf('/');
      return { ref: { group: r.resource.slice(0, slash), resource: r.resource.slice(slash + 1) }, object: JSON.parse(this.decode(r.resource, r.data)) as KubeObject };
    });
  }

  async danglingOwnerUids(): Promise<string[]> {
    return (this.stmts.dangling.all() as Array<{ owner_uid: string }>).map((r) => r.owner_uid);
  }

  async create(ref: ResourceRef, obj: KubeObject): Promise<KubeObject> {
    const key = refKey(ref);
    const ns = obj.metadata.namespace ?? '';
    const name = obj.metadata.name!;
    return this.queueCreate((rv) => {
      const stored = withRv(obj, rv);
      const json = JSON.stringify(stored);
      const data = this.encode(key, json);
      // Nothing is written above this line: a throw there fails this create alone. A statement
      // that throws may have written, and the batch is redone with a savepoint per create.
      let inserted: boolean;
      try {
        // The insert is the existence check (a conflict inserts nothing, and the number is not used).
        inserted = this.stmts.insert.run(key, ns, name, obj.metadata.uid ?? '', rv, data).changes > 0;
        if (inserted) {
          // A new row has no owner rows yet (a delete removes them with the object).
          for (const o of stored.metadata.ownerReferences ?? []) this.stmts.addOwner.run(o.uid, key, ns, name);
          this.stmts.event.run(rv, key, ns, name, 'ADDED', data, null);
        }
      } catch (cause) {
        throw new WriteInterrupted(cause);
      }
      if (!inserted) throw new StoreError('AlreadyExists', `${name} already exists`);
      return { event: { type: 'ADDED', ref, namespace: ns, name, resourceVersion: String(rv), object: stored } satisfies StoreEvent, json };
    });
  }

  async update(ref: ResourceRef, obj: KubeObject, expectedResourceVersion?: string): Promise<KubeObject> {
    const key = refKey(ref);
    const ns = obj.metadata.namespace ?? '';
    const name = obj.metadata.name!;
    const updated = await this.writeNow(() => {
      const row = this.stmts.get.get(key, ns, name) as { rv: number; data: string } | undefined;
      if (!row) throw new StoreError('NotFound', `${name} not found`);
      if (expectedResourceVersion !== undefined && String(row.rv) !== expectedResourceVersion) {
        throw new StoreError('Conflict', `the object has been modified; please apply your changes to the latest version and try again`);
      }
      const rv = this.bump();
      const stored = withRv(obj, rv);
      const data = this.encode(key, JSON.stringify(stored));
      this.stmts.update.run(obj.metadata.uid ?? '', rv, data, key, ns, name);
      this.indexOwners(key, ns, name, stored);
      const previous = JSON.parse(this.decode(key, row.data)) as KubeObject;
      const prevLabels = JSON.stringify(previous.metadata.labels ?? {});
      this.stmts.event.run(rv, key, ns, name, 'MODIFIED', data, prevLabels === JSON.stringify(stored.metadata.labels ?? {}) ? null : prevLabels);
      return { type: 'MODIFIED', ref, namespace: ns, name, resourceVersion: String(rv), object: stored, previous } satisfies StoreEvent;
    });
    if (updated.metadata.deletionTimestamp && pendingFinalizers(ref, updated).length === 0) {
      // The last finalizer is gone: the deletion completes now, as an API server does.
      await this.delete({ ...ref, namespace: ns, name }, updated.metadata.resourceVersion).catch((e: unknown) => {
        if (!(e instanceof StoreError && e.reason === 'NotFound')) throw e;
      });
    }
    return updated;
  }

  async delete(k: ObjectKey, expectedResourceVersion?: string): Promise<KubeObject> {
    const key = refKey(k);
    return this.writeNow(() => {
      const row = this.stmts.get.get(key, k.namespace, k.name) as { rv: number; data: string } | undefined;
      if (!row) throw new StoreError('NotFound', `${k.name} not found`);
      if (expectedResourceVersion !== undefined && String(row.rv) !== expectedResourceVersion) {
        throw new StoreError('Conflict', `the object has been modified; please apply your changes to the latest version and try again`);
      }
      const rv = this.bump();
      const previous = JSON.parse(this.decode(key, row.data)) as KubeObject;
      const stored = withRv(previous, rv);
      this.stmts.remove.run(key, k.namespace, k.name);
      this.stmts.ownersOf.run(key, k.namespace, k.name);
      this.stmts.event.run(rv, key, k.namespace, k.name, 'DELETED', this.encode(key, JSON.stringify(stored)), null);
      return { type: 'DELETED', ref: { group: k.group, resource: k.resource }, namespace: k.namespace, name: k.name, resourceVersion: String(rv), object: stored, previous } satisfies StoreEvent;
    });
  }

  /**
   * Group commit of creates: those asked for while the event loop handles one round of I/O (say
   * 64 concurrent POSTs) are committed in one SQLite transaction; a failing one (AlreadyExists)
   * leaves the others (commitQueued). One commit writes the shared pages (the
   * resourceVersion counter, the tails of the objects and events trees) once instead of once per
   * create. Watchers get the events in resourceVersion order after the commit, then the callers
   * get their answers: a create is never answered before it is committed. Updates and deletes
   * are not deferred: they follow a read of the resourceVersion they expect, and the longer that
   * gap the more concurrent read-modify-writes of one object would conflict.
   */
  private queueCreate(change: (rv: number) => Written): Promise<KubeObject> {
    return new Promise((resolve, reject) => {
      this.queued.push({ change, resolve, reject });
      if (this.queued.length === 1) setImmediate(() => this.commitQueued());
    });
  }

  /** A write committed at once; creates queued before it are committed first (resourceVersions follow the order writes were asked for). */
  private async writeNow(change: () => StoreEvent): Promise<KubeObject> {
    if (this.queued.length) this.commitQueued();
    const event = this.inTransaction(change);
    this.afterWrite(event);
    return structuredClone(event.object);
  }

  private readonly inTransaction: <T>(work: () => T) => T;
  private queued: Array<{ change: (rv: number) => Written; resolve: (o: KubeObject) => void; reject: (e: unknown) => void }> = [];

  private commitQueued(): void {
    const batch = this.queued;
    this.queued = [];
    if (!batch.length) return;
    if (!this.db.open) {
      for (const w of batch) w.reject(new Error('the store is closed'));
      return;
    }
    let outcomes: Outcome[] | undefined;
    try {
      // Without savepoints first: a create that fails (AlreadyExists) fails before it writes, so
      // the others need no savepoint to survive it. Only when a statement throws — the create
      // may have written part of itself — is the batch rolled back and redone with a savepoint
      // per create, undoing exactly the failing one as before.
      outcomes = this.commitBatch(batch, false) ?? this.commitBatch(batch, true);
    } catch (error) {
      // The commit itself failed (disk full, I/O error): nothing of the batch was written.
      for (const w of batch) w.reject(error);
      return;
    }
    const committed = outcomes!;
    this.afterWrite(...committed.flatMap((o) => ('written' in o ? [o.written.event] : [])));
    batch.forEach((w, i) => {
      const outcome = committed[i]!;
      if ('error' in outcome) w.reject(outcome.error);
      // The caller's own copy, parsed from the text just written: cheaper than structuredClone.
      else w.resolve(JSON.parse(outcome.written.json) as KubeObject);
    });
  }

  /** One transaction for a batch of creates; undefined when it was rolled back to be redone with savepoints. */
  private commitBatch(batch: Array<{ change: (rv: number) => Written }>, savepoints: boolean): Outcome[] | undefined {
    const outcomes: Outcome[] = [];
    try {
      this.inTransaction(() => {
        // The counter is read and written once per batch; a create that fails uses no number.
        let rv = (this.stmts.lockRv.get() as { value: number }).value;
        for (const w of batch) {
          try {
            // Nested, a better-sqlite3 transaction is a savepoint: a throw undoes this write only.
            outcomes.push({ written: savepoints ? this.inTransaction(() => w.change(rv + 1)) : w.change(rv + 1) });
            rv++;
          } catch (error) {
            if (error instanceof WriteInterrupted && !savepoints) throw error;
            outcomes.push({ error: error instanceof WriteInterrupted ? error.cause : error });
          }
        }
        this.stmts.setRv.run(rv);
      });
    } catch (error) {
      if (error instanceof WriteInterrupted && !savepoints) return undefined;
      throw error;
    }
    return outcomes;
  }

  async deleteObject(key: ObjectKey, opts?: StoreDeleteOptions): Promise<StoreDeleteResult> {
    return deleteWithFinalizers(this, key, opts);
  }

  watch(ref: ResourceRef, opts: WatchOptions, onEvent: (event: StoreEvent) => void, onError?: WatchErrorHandler): Watcher {
    const key = refKey(ref);
    if (opts.sinceResourceVersion !== undefined) {
      if (!/^\d+$/.test(opts.sinceResourceVersion)) throw new StoreError('Invalid', `invalid resource version "${opts.sinceResourceVersion}"`);
      const since = Number(opts.sinceResourceVersion);
      const oldest = (this.stmts.oldestEvent.get() as { rv: number | null }).rv;
      const current = (this.stmts.currentRv.get() as { value: number }).value;
      // A namespace created after `since` had a predecessor of its name there: another tenant's,
      // perhaps. Its history is not this namespace's to replay (the client lists again).
      const recreated = opts.namespace ? (this.stmts.namespaceCreatedAfter.get(since, opts.namespace) as { rv: number | null }).rv : null;
      // Replayable when every event after `since` is still kept.
      if ((since < current && (oldest === null || since < oldest - 1)) || recreated !== null) {
        // Told once the caller holds the watcher, as a cluster's 410 arrives on an open stream.
        const from = recreated ?? oldest ?? current;
        const error = new StoreError('Expired', recreated !== null
          ? `too old resource version: ${since} (${from}): namespace "${opts.namespace}" was created after it`
          : `too old resource version: ${since} (${from})`, String(from));
        let stopped = false;
        queueMicrotask(() => {
          if (!stopped) onError?.(error);
        });
        return { stop: () => { stopped = true; } };
      }
      const rows = this.stmts.replay.all(key, since) as Array<{ rv: number; namespace: string; name: string; type: StoreEvent['type']; data: string; prev_labels: string | null }>;
      for (const r of rows) {
        if (opts.namespace !== undefined && r.namespace !== opts.namespace) continue;
        const object = JSON.parse(this.decode(key, r.data)) as KubeObject;
        // Replayed MODIFIED events know the previous labels only (what selectors read).
        const previous = r.type === 'MODIFIED' && r.prev_labels !== null ? { ...object, metadata: { ...object.metadata, labels: JSON.parse(r.prev_labels) } } : undefined;
        onEvent({ type: r.type, ref, namespace: r.namespace, name: r.name, resourceVersion: String(r.rv), object, ...(previous ? { previous } : {}) });
      }
    }
    // Subscribing in the same tick as the replay (the store is synchronous) leaves no gap.
    const listener: Listener = { namespace: opts.namespace, onEvent };
    let set = this.listeners.get(key);
    if (!set) this.listeners.set(key, (set = new Set()));
    set.add(listener);
    return {
      stop: () => {
        set!.delete(listener);
        if (set!.size === 0 && this.listeners.get(key) === set) this.listeners.delete(key);
      },
    };
  }

  /** The WAL size in pages at which a commit checkpoints the file itself (SQLite's default: 1,000); raised while a WalCheckpointer runs. */
  setAutoCheckpoint(pages: number): void {
    this.db.pragma(`wal_autocheckpoint = ${Math.max(0, Math.floor(pages))}`);
  }

  async currentResourceVersion(): Promise<string> {
    return String((this.stmts.currentRv.get() as { value: number }).value);
  }

  async close(): Promise<void> {
    // Writes already asked for are committed (and answered) before the file closes.
    if (this.queued.length) this.commitQueued();
    this.listeners.clear();
    if (this.db.open) this.db.close();
  }

  private bump(): number {
    return (this.stmts.nextRv.get() as { value: number }).value;
  }

  private indexOwners(key: string, ns: string, name: string, obj: KubeObject) {
    this.stmts.ownersOf.run(key, ns, name);
    for (const o of obj.metadata.ownerReferences ?? []) this.stmts.addOwner.run(o.uid, key, ns, name);
  }

  /**
   * A commit (this store's own, or one another process made to the file: a serving worker's
   * replica is told of each, in order): what the read cache held of its object and collections is stale. A read made after
   * the commit but before this sees the commit anyway (each read is a fresh snapshot), and one
   * cached before it is dropped here, so the cache is never behind once the commit is taken in.
   */
  forgetCommitted(event: StoreEvent): void {
    this.cache?.forget(refKey(event.ref), event.namespace, event.name);
  }

  /** After a commit: history pruning now and then, and the commit's events to the watchers. */
  private afterWrite(...events: StoreEvent[]) {
    if (!events.length) return;
    // Before anything (a watcher) can read again.
    for (const e of events) this.forgetCommitted(e);
    for (const e of events) if (e.ref.resource === 'namespaces' && e.ref.group === '') this.liveNamespaces.delete(e.name);
    this.writesSincePrune += events.length;
    if (this.writesSincePrune >= 1000) {
      this.writesSincePrune = 0;
      this.stmts.prune.run(Number(events[events.length - 1]!.resourceVersion) - this.retention);
    }
    // A watcher that writes from its callback gets its event delivered after the ones being
    // delivered, never before them: every watcher sees resourceVersion order.
    this.undelivered.push(...events);
    if (this.delivering) return;
    this.delivering = true;
    try {
      for (let next = this.undelivered.shift(); next; next = this.undelivered.shift()) this.deliver(next);
    } finally {
      this.delivering = false;
    }
  }

  private undelivered: StoreEvent[] = [];
  private delivering = false;

  private readonly commitListeners = new Set<(event: StoreEvent) => void>();

  /**
   * Every committed event of every resource, in resourceVersion order (what the primary sends
   * its serving workers, core/src/cluster). Returns the unsubscribe function.
   */
  onCommit(listener: (event: StoreEvent) => void): () => void {
    this.commitListeners.add(listener);
    return () => this.commitListeners.delete(listener);
  }

  private deliver(event: StoreEvent) {
    for (const l of this.commitListeners) l(event);
    const set = this.listeners.get(refKey(event.ref));
    if (!set) return;
    for (const l of [...set]) {
      if (l.namespace !== undefined && l.namespace !== event.namespace) continue;
      try {
        l.onEvent(event);
      } catch {
        // A failing watcher must not break the writer or the other watchers.
      }
    }
  }

  /** Drops watch history up to and including `rv` (tests and compaction). */
  compact(rv: number) {
    this.stmts.prune.run(rv);
  }
}

/** A create's event and the JSON text it stored (before sealing). */
type Written = { event: StoreEvent; json: string };
type Outcome = { written: Written } | { error: unknown };

/** A statement of a batched create threw: it may have written part of the create. */
class WriteInterrupted extends Error {
  constructor(override readonly cause: unknown) {
    super((cause as Error)?.message ?? String(cause));
  }
}

function withRv(obj: KubeObject, rv: number): KubeObject {
  return { ...obj, metadata: { ...obj.metadata, resourceVersion: String(rv) } };
}
