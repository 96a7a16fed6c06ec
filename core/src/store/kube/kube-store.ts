// The ResourceStore of the kubernetes mode: the cluster's API server (and its etcd) is the
// store. uids, timestamps, generation, resourceVersions, conflicts, finalizers and deletion are
// the cluster's; this class only maps the store contract onto REST paths. Internal kinds (signing
// keys, refresh tokens, ...) have no CRD: they live in Secrets of the core's namespace.
import type {
  KubeObject, ListOptions, ListResult, ObjectKey, ResourceRef, ResourceStore, SelectedPage, SelectOptions, StoreDeleteOptions,
  StoreDeleteResult, StoreEvent, StoreUpdateOptions, WatchErrorHandler, WatchOptions, Watcher,
} from '../resource-store.js';
import { StoreError } from '../resource-store.js';
import type { KubeClient } from './kube-client.js';
import { InternalSecrets } from './internal-secrets.js';
import { NamespaceCache } from './namespace-cache.js';
import { continueVersion, historyBeforeNamespace } from './namespace-history.js';
import { ConsumerView } from './watch-resync.js';
import { WriteVisibility, type CacheWatch, type WriteResult, type WriteTicket } from './write-visibility.js';

/** How a collection is served by the cluster: its version, whether namespaced, whether /status is a subresource. */
export interface ServedAs {
  version: string;
  namespaced: boolean;
  status: boolean;
}

export interface KubeStoreOptions {
  client: KubeClient;
  /** Where a group/resource is served (the core's kind registry knows). */
  servedAs: (ref: ResourceRef) => ServedAs | undefined;
  /** Internal kinds (this group) become Secrets in `namespace`. */
  internalGroup: string;
  /** The core's own namespace. */
  namespace: string;
  /** How long a write waits at most for the core's caches to have its event (default 5 s). */
  cacheWaitMs?: number;
  /**
   * A watch of the core's own (one given no onError: a cache, a controller) could not be brought
   * up to date: the cluster answered 410 and no longer has even the version the watch started
   * from, so what its consumer holds is unknown. The caller decides (server.ts: the process
   * stops, and is started again with fresh caches). Other failures never end such a watch.
   */
  onWatchLost?: (ref: ResourceRef, e: StoreError) => void;
  /** The longest wait between attempts to resume a broken watch of the core's own (default 5 s). */
  watchRetryMaxMs?: number;
}

/** Where the core's kind registry says a collection is served. */
export function servedAs(kinds: { byGroupResource(group: string, plural: string): { version: string; namespaced: boolean; subresources: { status?: boolean } } | undefined }, ref: ResourceRef): ServedAs | undefined {
  const def = kinds.byGroupResource(ref.group, ref.resource);
  return def && { version: def.version, namespaced: def.namespaced, status: Boolean(def.subresources.status) };
}

/**
 * What a write's own event carries: the version it answered with; or, for an object being deleted
 * that no finalizer holds any more, its removal.
 */
const written = (o: KubeObject): WriteResult =>
  o.metadata.deletionTimestamp && !o.metadata.finalizers?.length && o.metadata.uid ? { deleted: true, uid: o.metadata.uid } : { resourceVersion: o.metadata.resourceVersion! };

const byKey = (a: KubeObject, b: KubeObject) => {
  const ka = `${a.metadata.namespace ?? ''}\u0000${a.metadata.name}`;
  const kb = `${b.metadata.namespace ?? ''}\u0000${b.metadata.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
};

export class KubeStore implements ResourceStore {
  private readonly client: KubeClient;
  private readonly internal: InternalSecrets;
  private readonly watches = new Set<AbortController>();
  private readonly namespaces = new NamespaceCache(this);
  private readonly visibility: WriteVisibility;

  constructor(private readonly opts: KubeStoreOptions) {
    this.client = opts.client;
    this.internal = new InternalSecrets(opts.namespace);
    this.visibility = new WriteVisibility(opts.cacheWaitMs);
  }

  /** Runs a write; it returns once the core's caches watching its collection have its event (WatchOptions.cache). */
  private async visibly<T>(key: ObjectKey, write: () => Promise<T>, result: (out: T) => WriteResult | undefined): Promise<T> {
    const ticket: WriteTicket | undefined = this.visibility.begin(key);
    let out: T;
    try {
      out = await write();
    } catch (e) {
      ticket?.cancel();
      throw e;
    }
    if (ticket) {
      const r = result(out);
      if (r) await ticket.seen(r);
      else ticket.cancel();
    }
    return out;
  }

  private served(ref: ResourceRef): ServedAs {
    const s = this.opts.servedAs(ref);
    if (!s) throw new StoreError('NotFound', `the cluster serves no ${ref.resource}${ref.group ? `.${ref.group}` : ''} known to the core`);
    return s;
  }

  /** The REST path of a collection (namespace '' = all namespaces) or of one object. */
  path(ref: ResourceRef, namespace: string, name?: string, sub?: string): string {
    const s = this.served(ref);
    const base = ref.group === '' ? `/api/${s.version}` : `/apis/${ref.group}/${s.version}`;
    const ns = s.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
    return `${base}${ns}/${ref.resource}${name !== undefined ? `/${encodeURIComponent(name)}` : ''}${sub ? `/${sub}` : ''}`;
  }

  private isInternal(ref: ResourceRef) {
    return ref.group === this.opts.internalGroup;
  }

  async get(key: ObjectKey): Promise<KubeObject | undefined> {
    if (this.isInternal(key)) {
      const secret = await this.client.call('GET', this.internal.path(key), undefined, { missingOk: true });
      return secret && this.internal.unwrap(secret);
    }
    return this.client.call('GET', this.path(key, key.namespace, key.name), undefined, { missingOk: true });
  }

  namespaceForCreate(name: string): Promise<KubeObject | undefined> {
    return this.namespaces.get(name);
  }

  /** Every object, read in pages; `after` and `limit` are applied in the cluster's key order. */
  async list(ref: ResourceRef, opts: ListOptions = {}): Promise<ListResult> {
    const base = this.isInternal(ref) ? this.internal.listPath(ref) : this.path(ref, opts.namespace ?? '');
    const listed = await this.listAll(ref, base);
    const resourceVersion = listed.resourceVersion;
    let items = listed.items.sort(byKey);
    if (opts.after) {
      const after = { metadata: { namespace: opts.after.namespace, name: opts.after.name } } as KubeObject;
      items = items.filter((o) => byKey(o, after) > 0);
    }
    let last: ListResult['last'];
    if (opts.limit && items.length > opts.limit) {
      items = items.slice(0, opts.limit);
      const l = items[items.length - 1]!;
      last = { namespace: l.metadata.namespace ?? '', name: l.metadata.name! };
    }
    return { items, resourceVersion, ...(last ? { last } : {}) };
  }

  /**
   * One page selected by the cluster: the selectors, `limit` and `continue` go to the API server
   * as they are (its continue token is handed out as the core's). Internal kinds are Secrets
   * whose names and labels are not the objects': they are selected by the caller.
   */
  selectPage(ref: ResourceRef, opts: SelectOptions): Promise<SelectedPage> | undefined {
    if (this.isInternal(ref)) return undefined;
    const query = new URLSearchParams();
    if (opts.labelSelector) query.set('labelSelector', opts.labelSelector);
    if (opts.fieldSelector) query.set('fieldSelector', opts.fieldSelector);
    if (opts.limit) query.set('limit', String(opts.limit));
    if (opts.continue) query.set('continue', opts.continue);
    const qs = query.toString();
    // A continue token lists at its version, which the client may have written: not at one
    // from before the namespace (another one of its name) was created.
    const since = opts.namespace && opts.continue ? continueVersion(opts.continue) : undefined;
    return (async () => {
      const expired = since && (await historyBeforeNamespace(this.client, opts.namespace!, since));
      if (expired) throw expired;
      const page = await this.client.call<{ items: KubeObject[]; metadata: { resourceVersion: string; continue?: string } }>('GET', `${this.path(ref, opts.namespace ?? '')}${qs ? `?${qs}` : ''}`);
      return { items: page!.items, resourceVersion: page!.metadata.resourceVersion, ...(page!.metadata.continue ? { continue: page!.metadata.continue } : {}) };
    })();
  }

  async listDependents(): Promise<Array<{ ref: ResourceRef; object: KubeObject }>> {
    throw new Error("in the kubernetes mode the cluster's garbage collector follows ownerReferences");
  }

  async danglingOwnerUids(): Promise<string[]> {
    throw new Error("in the kubernetes mode the cluster's garbage collector follows ownerReferences");
  }

  create(ref: ResourceRef, obj: KubeObject): Promise<KubeObject> {
    const key = { ...ref, namespace: obj.metadata.namespace ?? '', name: obj.metadata.name! };
    return this.visibly(key, () => this.send(ref, obj), written);
  }

  private async send(ref: ResourceRef, obj: KubeObject): Promise<KubeObject> {
    if (this.isInternal(ref)) {
      const key = { ...ref, namespace: obj.metadata.namespace ?? '', name: obj.metadata.name! };
      return this.internal.unwrap((await this.client.call('POST', this.internal.collectionPath(), this.internal.wrap(key, obj)))!);
    }
    // One write: a kind with a status subresource ignores status on create, as the cluster does
    // (the core's ResourceService drops it before).
    const body = structuredClone(obj);
    delete body.metadata.resourceVersion;
    return (await this.client.call('POST', this.path(ref, obj.metadata.namespace ?? ''), body))!;
  }

  update(ref: ResourceRef, obj: KubeObject, expectedResourceVersion?: string, opts: StoreUpdateOptions = {}): Promise<KubeObject> {
    const key = { ...ref, namespace: obj.metadata.namespace ?? '', name: obj.metadata.name! };
    let sent: string | undefined;
    // An update that changes nothing is no write to the cluster: the same version back, and no
    // event to wait for. One that took the last finalizer off an object being deleted may answer
    // with the version it was sent too (kube-apiserver 1.20 answers the object it then removed):
    // its removal is waited for.
    return this.visibly(key, () => this.updateOnce(ref, key, obj, expectedResourceVersion, opts, (rv) => (sent = rv)), (out) => {
      const result = written(out);
      return 'deleted' in result || out.metadata.resourceVersion !== sent ? result : undefined;
    });
  }

  private async updateOnce(ref: ResourceRef, key: ObjectKey, obj: KubeObject, expectedResourceVersion: string | undefined, opts: StoreUpdateOptions, sending: (rv: string) => void): Promise<KubeObject> {
    for (let attempt = 0; ; attempt++) {
      // The cluster refuses an update without a resourceVersion for most kinds: an unconditional
      // write takes the current one (and retries if it loses a race).
      const rv = expectedResourceVersion ?? (await this.get(key))?.metadata.resourceVersion;
      if (rv === undefined) throw new StoreError('NotFound', `${key.name} not found`);
      sending(rv);
      try {
        return await this.put(ref, key, obj, rv, opts.subresource ?? '');
      } catch (e) {
        if (expectedResourceVersion === undefined && e instanceof StoreError && e.reason === 'Conflict' && attempt < 10) continue;
        throw e;
      }
    }
  }

  /**
   * One PUT: to the subresource the write is for (`status`, a namespace's `finalize`), else to
   * the main resource, where a kind with a status subresource keeps its stored status.
   */
  private async put(ref: ResourceRef, key: ObjectKey, obj: KubeObject, rv: string, subresource: '' | 'status' | 'finalize'): Promise<KubeObject> {
    if (this.isInternal(ref)) {
      const secret = this.internal.wrap(key, obj);
      secret.metadata.resourceVersion = rv;
      return this.internal.unwrap((await this.client.call('PUT', this.internal.path(key), secret))!);
    }
    const sub = subresource === 'status' && this.served(ref).status ? 'status' : subresource === 'finalize' && ref.group === '' && ref.resource === 'namespaces' ? 'finalize' : undefined;
    const body = { ...obj, metadata: { ...obj.metadata, resourceVersion: rv } };
    return (await this.client.call('PUT', this.path(ref, key.namespace, key.name, sub), body))!;
  }

  async delete(key: ObjectKey, expectedResourceVersion?: string): Promise<KubeObject> {
    const { object } = await this.deleteObject(key, expectedResourceVersion ? { preconditions: { resourceVersion: expectedResourceVersion } } : {});
    return object;
  }

  async deleteObject(key: ObjectKey, opts: StoreDeleteOptions = {}): Promise<StoreDeleteResult> {
    // Gone: the DELETED event. Still there (finalizers): the event of the write that marked it,
    // whose version only the DELETE's own answer carries.
    const { object, pending } = await this.visibly(key, () => this.sendDelete(key, opts), (r) => (!r.pending ? { deleted: true } : r.answered ? written(r.object) : undefined));
    return { object, pending };
  }

  private async sendDelete(key: ObjectKey, opts: StoreDeleteOptions): Promise<StoreDeleteResult & { answered: boolean }> {
    const path = this.isInternal(key) ? this.internal.path(key) : this.path(key, key.namespace, key.name);
    const before = await this.get(key);
    if (!before) throw new StoreError('NotFound', `${key.name} not found`);
    const body = {
      apiVersion: 'v1', kind: 'DeleteOptions',
      ...(opts.preconditions ? { preconditions: opts.preconditions } : {}),
      ...(opts.propagationPolicy ? { propagationPolicy: opts.propagationPolicy } : {}),
    };
    const res = await this.client.call<KubeObject & { kind?: string; status?: unknown }>('DELETE', path, body);
    // Some kinds answer a Status instead of the object: the last state is what we read before.
    const answered = Boolean(res && res.kind !== 'Status');
    const object = answered ? (this.isInternal(key) ? this.internal.unwrap(res!) : res!) : before;
    const pending = Boolean(object.metadata?.deletionTimestamp) && (await this.get(key)) !== undefined;
    return { object, pending, answered };
  }

  watch(ref: ResourceRef, opts: WatchOptions, onEvent: (event: StoreEvent) => void, onError?: WatchErrorHandler): Watcher {
    const abort = new AbortController();
    this.watches.add(abort);
    const internal = this.isInternal(ref);
    const base = internal ? this.internal.listPath(ref) : this.path(ref, opts.namespace ?? '');
    const sep = base.includes('?') ? '&' : '?';
    // The cluster selects (an object leaving the selection comes as DELETED); not for internal
    // kinds, whose Secrets carry other names and labels.
    const selectors = internal ? '' : [
      opts.labelSelector ? `&labelSelector=${encodeURIComponent(opts.labelSelector)}` : '',
      opts.fieldSelector ? `&fieldSelector=${encodeURIComponent(opts.fieldSelector)}` : '',
    ].join('');
    const fail = (e: unknown) => {
      if (abort.signal.aborted) return;
      stop();
      onError?.(e instanceof StoreError ? e : new StoreError('Unavailable', (e as Error).message));
    };
    // A cache's watch (WatchOptions.cache): this process's writes wait for it to have their events.
    const cache: CacheWatch | undefined = opts.cache && !opts.labelSelector && !opts.fieldSelector ? { ref, namespace: opts.namespace ?? '' } : undefined;
    const stop = () => {
      abort.abort();
      this.watches.delete(abort);
      if (cache) this.visibility.removeCache(cache);
    };
    void (async () => {
      // Without a starting version the watch begins now (not with the current objects).
      let since = opts.sinceResourceVersion ?? (await this.currentResourceVersion());
      // Not another namespace's history of the same name (a watch from a version it gave out).
      if (opts.sinceResourceVersion && opts.sinceResourceVersion !== '0' && opts.namespace && !internal) {
        const expired = await historyBeforeNamespace(this.client, opts.namespace, since);
        if (expired) throw expired;
      }
      // From here on every write is after `since`, so the stream will carry it.
      if (cache && !abort.signal.aborted) this.visibility.addCache(cache);
      // The core's own watch: what its consumer holds, to bring it up to date after a 410
      // (watch-resync.ts). Kept only for such watches.
      const view = onError ? undefined : new ConsumerView(opts.sinceResourceVersion ?? since);
      const handOn = (event: StoreEvent) => {
        onEvent(event);
        if (cache) this.visibility.delivered(cache, event);
      };
      // Between failed attempts to resume: 100 ms, doubling up to watchRetryMaxMs.
      let retryMs = 0;
      const pause = (after: 'progress' | 'failure') => {
        retryMs = after === 'progress' ? 100 : Math.min(this.opts.watchRetryMaxMs ?? 5_000, Math.max(100, retryMs * 2));
        return new Promise((r) => setTimeout(r, retryMs).unref());
      };
      while (!abort.signal.aborted) {
        let expired: StoreError | undefined;
        let delivered = false;
        const streamed = this.client.stream(`${base}${sep}watch=1&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(since)}${selectors}`, abort.signal, ({ type, object }) => {
          if (abort.signal.aborted || expired) return;
          if (type === 'ERROR') {
            expired = object.code === 410 ? new StoreError('Expired', object.message ?? 'too old resource version') : new StoreError('Unavailable', object.message ?? 'watch error');
            return;
          }
          since = object.metadata.resourceVersion ?? since;
          delivered = true;
          if (type === 'BOOKMARK') return;
          const obj = internal ? this.internal.unwrap(object) : object;
          const event: StoreEvent = {
            type: type as StoreEvent['type'], ref, namespace: obj.metadata.namespace ?? '', name: obj.metadata.name!,
            resourceVersion: object.metadata.resourceVersion!, object: obj,
          };
          view?.delivered(event);
          handOn(event);
        });
        if (onError) {
          // A client's watch: its failures are the client's to see (it watches again, or lists on 410).
          await streamed;
          if (expired) throw expired;
          continue;
        }
        // The core's own watch (a cache, a controller): nothing it has missed may be lost, and it
        // must not end on a passing failure (a connection reset, the API server restarting a CRD's
        // handler when another replica applies it, a 5xx under load), or the cache stays stale for
        // good: it resumes from the last version seen, waiting longer between failed attempts.
        let failure: StoreError | undefined;
        try {
          await streamed;
        } catch (e) {
          failure = e instanceof StoreError ? e : new StoreError('Unavailable', (e as Error).message);
        }
        if (expired?.reason === 'Expired' || failure?.reason === 'Expired') {
          // The cluster has no history from `since` (an API server's watch cache made after it,
          // as for a CRD just created, or compaction): list again and hand the consumer what
          // changed, as events; then watch from that list's version.
          try {
            since = await view!.resync((rv) => this.listAll(ref, base, rv, selectors), (event) => {
              if (!abort.signal.aborted) handOn(event);
            }, ref);
          } catch (e) {
            const lost = e instanceof StoreError ? e : new StoreError('Unavailable', (e as Error).message);
            if (lost.reason !== 'Expired') {
              await pause('failure');
              continue;
            }
            this.opts.onWatchLost?.(ref, lost);
            throw lost;
          }
          retryMs = 0;
          continue;
        }
        if (!failure && !expired) {
          // The server ended the stream (its timeout): carry on from the last version seen.
          retryMs = 0;
          continue;
        }
        await pause(delivered ? 'progress' : 'failure');
      }
    })().catch(fail);
    return { stop };
  }

  /**
   * A whole collection at `base`, page by page (internal kinds unwrapped from their Secrets): as it
   * is now, or exactly at `resourceVersion`; `selectors` as a watch passes them.
   */
  private async listAll(ref: ResourceRef, base: string, resourceVersion?: string, selectors = ''): Promise<{ items: KubeObject[]; resourceVersion: string }> {
    const sep = base.includes('?') ? '&' : '?';
    const at = resourceVersion ? `&resourceVersion=${encodeURIComponent(resourceVersion)}&resourceVersionMatch=Exact` : '';
    const items: KubeObject[] = [];
    let listed = '';
    let cont = '';
    do {
      const page = (await this.client.call<{ items: KubeObject[]; metadata: { resourceVersion: string; continue?: string } }>('GET', `${base}${sep}limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : at}${selectors}`))!;
      listed ||= page.metadata.resourceVersion;
      items.push(...(this.isInternal(ref) ? page.items.map((o) => this.internal.unwrap(o)) : page.items));
      cont = page.metadata.continue ?? '';
    } while (cont);
    return { items, resourceVersion: listed };
  }

  async currentResourceVersion(): Promise<string> {
    const page = (await this.client.call<{ metadata: { resourceVersion: string } }>('GET', '/api/v1/namespaces?limit=1'))!;
    return page.metadata.resourceVersion;
  }

  async close(): Promise<void> {
    this.namespaces.stop();
    for (const w of this.watches) w.abort();
    this.watches.clear();
    await this.client.close();
  }
}
