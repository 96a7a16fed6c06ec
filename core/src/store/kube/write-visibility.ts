// In the kubernetes mode the core's caches (the RBAC index, revoked sessions, users, signing keys,
// routes, admission webhooks) learn of a write through a watch on the API server, which delivers
// it some milliseconds after the write's response. Without a wait, the request right after a
// write could be decided on the state before it: a RoleBinding refused because the index had not
// seen its Role yet, a revoked binding still honoured. The embedded store delivers its events at
// commit, before the write returns; this gives the cluster's store the same order for the writes
// this process makes: a write returns once every cache watching its collection has its event.
import type { ObjectKey, ResourceRef, StoreEvent } from '../resource-store.js';

/** A cache's watch, as the writes see it. */
export interface CacheWatch {
  readonly ref: ResourceRef;
  /** '' for all namespaces. */
  readonly namespace: string;
}

/**
 * What ends a write's wait at one cache: the event carrying the written version, or the object's
 * removal (`uid`: of that object only). An update that takes the last finalizer off an object
 * being deleted waits for its removal: the cluster sends that update's MODIFIED event, then
 * removes the object in the same request, and a cache that has only the first still holds it.
 */
export type WriteResult = { resourceVersion: string } | { deleted: true; uid?: string };

interface PendingWrite {
  key: string;
  /** The caches still to see the write (those watching its collection when it began). */
  waiting: Set<CacheWatch>;
  /** Events of the key delivered before the write's result was known. */
  early: Array<{ cache: CacheWatch; type: StoreEvent['type']; resourceVersion: string; uid?: string }>;
  result?: WriteResult;
  done?: () => void;
}

/** A write in flight: `seen` once its result is known, `cancel` when it failed. */
export interface WriteTicket {
  seen(result: WriteResult): Promise<void>;
  cancel(): void;
}

const objectKey = (ref: ResourceRef, namespace: string, name: string) => `${ref.group}/${ref.resource}/${namespace}/${name}`;
const sameCollection = (a: ResourceRef, b: ResourceRef) => a.group === b.group && a.resource === b.resource;
const matches = (result: WriteResult, type: StoreEvent['type'], resourceVersion: string, uid: string | undefined) =>
  'deleted' in result ? type === 'DELETED' && (result.uid === undefined || uid === result.uid) : resourceVersion === result.resourceVersion;

export class WriteVisibility {
  private readonly caches = new Set<CacheWatch>();
  private readonly pending = new Map<string, Set<PendingWrite>>();

  /** @param timeoutMs the longest a write waits for a cache (a watch being re-established, a slow API server); then it returns anyway. */
  constructor(private readonly timeoutMs = 5_000) {}

  addCache(cache: CacheWatch): void {
    this.caches.add(cache);
  }

  /** A cache stopped (or its watch failed): no write waits for it any more. */
  removeCache(cache: CacheWatch): void {
    this.caches.delete(cache);
    for (const writes of this.pending.values()) for (const w of writes) this.crossOff(w, cache);
  }

  /** Called by a cache's watch after the cache has handled the event. */
  delivered(cache: CacheWatch, event: StoreEvent): void {
    if (this.pending.size === 0) return;
    const writes = this.pending.get(objectKey(event.ref, event.namespace, event.name));
    if (!writes) return;
    for (const w of writes) {
      if (!w.waiting.has(cache)) continue;
      const uid = event.object.metadata.uid;
      if (!w.result) w.early.push({ cache, type: event.type, resourceVersion: event.resourceVersion, uid });
      else if (matches(w.result, event.type, event.resourceVersion, uid)) this.crossOff(w, cache);
    }
  }

  /**
   * Called before a write is sent (its event can arrive before its response). Undefined when no
   * cache watches the collection: most writes (extensions' objects) wait for nothing.
   */
  begin(key: ObjectKey): WriteTicket | undefined {
    let waiting: Set<CacheWatch> | undefined;
    for (const c of this.caches) {
      if (!sameCollection(c.ref, key) || (c.namespace !== '' && c.namespace !== key.namespace)) continue;
      (waiting ??= new Set()).add(c);
    }
    if (!waiting) return undefined;
    const w: PendingWrite = { key: objectKey(key, key.namespace, key.name), waiting, early: [] };
    let writes = this.pending.get(w.key);
    if (!writes) this.pending.set(w.key, (writes = new Set()));
    writes.add(w);
    return {
      seen: (result) => this.wait(w, result),
      cancel: () => this.forget(w),
    };
  }

  private wait(w: PendingWrite, result: WriteResult): Promise<void> {
    w.result = result;
    for (const e of w.early.splice(0)) if (matches(result, e.type, e.resourceVersion, e.uid)) w.waiting.delete(e.cache);
    if (w.waiting.size === 0) {
      this.forget(w);
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.forget(w);
        resolve();
      }, this.timeoutMs);
      timer.unref();
      w.done = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private crossOff(w: PendingWrite, cache: CacheWatch) {
    if (!w.waiting.delete(cache) || w.waiting.size > 0 || !w.result) return;
    this.forget(w);
    w.done?.();
  }

  private forget(w: PendingWrite) {
    const writes = this.pending.get(w.key);
    if (!writes) return;
    writes.delete(w);
    if (writes.size === 0) this.pending.delete(w.key);
  }
}
