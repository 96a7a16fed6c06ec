import type { ValueCodec } from '../store/encryption-keys.js';
import {
  StoreError,
  type KubeObject, type ListOptions, type ListResult, type ObjectKey, type ResourceRef, type ResourceStore, type StoreDeleteOptions,
  type StoreDeleteResult, type StoreEvent, type WatchErrorHandler, type WatchOptions, type Watcher,
} from '../store/resource-store.js';
import { SqliteStore } from '../store/sqlite-store.js';
import type { StoreWrite, ToPrimary, WireError } from './messages.js';

export interface ReplicaStoreOptions {
  /** The primary's SQLite file (opened read-only). */
  path: string;
  /** Seals and opens Secrets, as the primary's store does (the same key file). */
  encrypted?: { resources: string[]; codec: ValueCodec };
  /** Sends a message to the primary (the worker's IPC channel). */
  send: (message: ToPrimary) => void;
}

type Listener = { namespace?: string; last: number; onEvent: (e: StoreEvent) => void };

const refKey = (ref: ResourceRef) => `${ref.group}/${ref.resource}`;

/**
 * A serving worker's view of the embedded store. Reads go to the primary's SQLite file, opened
 * read-only (WAL: they see each commit at once and never block the writer), or to what it read
 * lately, kept until the primary tells of a commit to it. Writes are asked of
 * the primary and answered after its commit, by which time the primary has sent this worker the
 * commit's events, so the worker's caches and watches have seen a write before its caller has its
 * answer. Watches are fed by those events (`receive`, in resourceVersion order): a watch replays
 * history from the file, then takes live events newer than anything it replayed, so no event is
 * lost or delivered twice between the two.
 */
export class ReplicaStore implements ResourceStore {
  private readonly reader: SqliteStore;
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  private nextId = 1;
  private closed = false;

  constructor(private readonly opts: ReplicaStoreOptions) {
    // Told of every commit (receive) before the primary answers the write that made it: the
    // reader may keep what it read in memory, as the primary's store does.
    this.reader = new SqliteStore({ path: opts.path, encrypted: opts.encrypted, readOnly: true, toldOfCommits: true });
  }

  get(key: ObjectKey): Promise<KubeObject | undefined> {
    return this.reader.get(key);
  }

  getRaw(key: ObjectKey): string | undefined {
    return this.reader.getRaw(key);
  }

  list(ref: ResourceRef, opts?: ListOptions): Promise<ListResult> {
    return this.reader.list(ref, opts);
  }

  listRaw(ref: ResourceRef, opts?: ListOptions): { rows: string[]; resourceVersion: string } {
    return this.reader.listRaw(ref, opts);
  }

  listRawKept(ref: ResourceRef, namespace: string | undefined): { rows: string[]; resourceVersion: string } | undefined {
    return this.reader.listRawKept(ref, namespace);
  }

  listDependents(ownerUid: string): Promise<Array<{ ref: ResourceRef; object: KubeObject }>> {
    return this.reader.listDependents(ownerUid);
  }

  danglingOwnerUids(): Promise<string[]> {
    return this.reader.danglingOwnerUids();
  }

  currentResourceVersion(): Promise<string> {
    return this.reader.currentResourceVersion();
  }

  create(ref: ResourceRef, obj: KubeObject): Promise<KubeObject> {
    return this.write({ op: 'create', ref, obj }) as Promise<KubeObject>;
  }

  update(ref: ResourceRef, obj: KubeObject, expectedResourceVersion?: string): Promise<KubeObject> {
    return this.write({ op: 'update', ref, obj, expectedResourceVersion }) as Promise<KubeObject>;
  }

  delete(key: ObjectKey, expectedResourceVersion?: string): Promise<KubeObject> {
    return this.write({ op: 'delete', key, expectedResourceVersion }) as Promise<KubeObject>;
  }

  deleteObject(key: ObjectKey, opts?: StoreDeleteOptions): Promise<StoreDeleteResult> {
    return this.write({ op: 'deleteObject', key, opts }) as Promise<StoreDeleteResult>;
  }

  watch(ref: ResourceRef, opts: WatchOptions, onEvent: (event: StoreEvent) => void, onError?: WatchErrorHandler): Watcher {
    // The file's resourceVersion before the replay: every event up to it is in the replay (or
    // older than asked for); every later one is in the replay or still to come from the primary.
    const listener: Listener = { namespace: opts.namespace, last: Number(this.reader.listRaw(ref, { limit: 0 }).resourceVersion), onEvent };
    let replay: Watcher | undefined;
    if (opts.sinceResourceVersion !== undefined) {
      replay = this.reader.watch(ref, opts, (e) => {
        listener.last = Math.max(listener.last, Number(e.resourceVersion));
        onEvent(e);
      }, (error) => {
        // Told after watch() returned (as a cluster's 410): no event follows it.
        stop();
        onError?.(error);
      });
    }
    let set = this.listeners.get(refKey(ref));
    if (!set) this.listeners.set(refKey(ref), (set = new Set()));
    const stop = () => {
      replay?.stop();
      set!.delete(listener);
      if (set!.size === 0 && this.listeners.get(refKey(ref)) === set) this.listeners.delete(refKey(ref));
    };
    set.add(listener);
    return { stop };
  }

  /** A committed event from the primary (they arrive in resourceVersion order). */
  receive(event: StoreEvent): void {
    // First: nothing (a watcher's callback included) may read the stale entry after this.
    this.reader.forgetCommitted(event);
    const set = this.listeners.get(refKey(event.ref));
    if (!set) return;
    const rv = Number(event.resourceVersion);
    for (const l of [...set]) {
      if (rv <= l.last || (l.namespace !== undefined && l.namespace !== event.namespace)) continue;
      l.last = rv;
      try {
        l.onEvent(event);
      } catch {
        // A failing watcher must not break the others.
      }
    }
  }

  /** The primary's answer to a write. */
  written(id: number, result: unknown, error?: WireError): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    if (error) p.reject(error.reason ? new StoreError(error.reason, error.message, error.oldestResourceVersion) : new Error(error.message));
    else p.resolve(result);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.pending.values()) p.reject(new StoreError('Unavailable', 'the core is shutting down'));
    this.pending.clear();
    this.listeners.clear();
    await this.reader.close();
  }

  private write(write: StoreWrite): Promise<unknown> {
    if (this.closed) return Promise.reject(new StoreError('Unavailable', 'the core is shutting down'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      try {
        this.opts.send({ mortise: 'write', id, write });
      } catch (e) {
        this.pending.delete(id);
        reject(new StoreError('Unavailable', `the primary process cannot be reached: ${(e as Error).message}`));
      }
    });
  }
}
