import type { KubeObject, ResourceStore, Watcher } from '../resource-store.js';

const namespaces = { group: '', resource: 'namespaces' };

/**
 * The cluster's namespaces as a list + watch sees them, so that the live-namespace check before
 * every namespaced create costs no request to the cluster. A namespace the cache does not know
 * (created a moment ago, before its watch event came) is read from the cluster, as before the
 * cache; one it knows is answered from memory, deletionTimestamp included. Staleness only ever
 * lets a create through to the cluster, whose own namespace lifecycle admission then refuses it
 * with the same Status. Until the first list, and after the watch broke, every answer is a read.
 */
export class NamespaceCache {
  private readonly seen = new Map<string, KubeObject>();
  private synced = false;
  private starting?: Promise<void>;
  private watcher?: Watcher;
  private closed = false;

  constructor(private readonly store: Pick<ResourceStore, 'get' | 'list' | 'watch'>) {}

  async get(name: string): Promise<KubeObject | undefined> {
    if (!this.synced) void this.start();
    return (this.synced ? this.seen.get(name) : undefined) ?? this.store.get({ ...namespaces, namespace: '', name });
  }

  private start(): Promise<void> {
    this.starting ??= (async () => {
      const { items, resourceVersion } = await this.store.list(namespaces);
      if (this.closed) return;
      this.seen.clear();
      for (const ns of items) this.seen.set(ns.metadata.name!, ns);
      this.watcher = this.store.watch(namespaces, { sinceResourceVersion: resourceVersion, cache: true }, (ev) => {
        if (ev.type === 'DELETED') this.seen.delete(ev.name);
        else if (ev.type === 'ADDED' || ev.type === 'MODIFIED') this.seen.set(ev.name, ev.object);
      }, () => this.reset());
      this.synced = true;
    })().catch(() => this.reset());
    return this.starting;
  }

  /** Back to reading every namespace; the next check lists and watches again. */
  private reset(): void {
    this.synced = false;
    this.seen.clear();
    this.watcher?.stop();
    this.watcher = undefined;
    this.starting = undefined;
  }

  stop(): void {
    this.closed = true;
    this.reset();
  }
}
