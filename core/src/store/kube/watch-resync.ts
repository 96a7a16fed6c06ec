import type { KubeObject, ResourceRef, StoreEvent } from '../resource-store.js';

const keyOf = (o: KubeObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

type Listing = { items: KubeObject[]; resourceVersion: string };

/**
 * What a watch of the core's own (a cache, a controller) has handed its consumer, so that a 410
 * from the cluster — it keeps no history from the watch's last version — is healed the way
 * client-go's reflector heals it: list again, and hand the consumer, as events, what changed
 * since what it holds (added, changed, deleted). The consumer listed the collection at
 * `startedAt` (or nothing, '0') and has had every event since: until the first resync only those
 * events are kept (the last per object), the listing at `startedAt` is read then (exactly at that
 * version; a cluster that no longer has it answers 410 again, and the view is lost); after it,
 * the whole view is kept up to date.
 */
export class ConsumerView {
  private held?: Map<string, KubeObject>;
  private readonly events = new Map<string, StoreEvent>();

  constructor(private readonly startedAt: string) {}

  delivered(e: StoreEvent): void {
    const key = `${e.namespace}/${e.name}`;
    if (!this.held) this.events.set(key, e);
    else if (e.type === 'DELETED') this.held.delete(key);
    else this.held.set(key, e.object);
  }

  /** Brings the consumer up to date (through `deliver`); returns the version to watch from. */
  async resync(listAt: (resourceVersion?: string) => Promise<Listing>, deliver: (e: StoreEvent) => void, ref: ResourceRef): Promise<string> {
    let held = this.held;
    if (!held) {
      const start = this.startedAt && this.startedAt !== '0' ? await listAt(this.startedAt) : { items: [], resourceVersion: '' };
      held = new Map(start.items.map((o) => [keyOf(o), o]));
      for (const [key, e] of this.events) {
        if (e.type === 'DELETED') held.delete(key);
        else held.set(key, e.object);
      }
    }
    const now = await listAt();
    const current = new Map(now.items.map((o) => [keyOf(o), o]));
    const event = (type: StoreEvent['type'], object: KubeObject, resourceVersion: string): StoreEvent => ({
      type, ref, namespace: object.metadata.namespace ?? '', name: object.metadata.name!, resourceVersion, object,
    });
    for (const [key, o] of held) if (!current.has(key)) deliver(event('DELETED', o, now.resourceVersion));
    for (const [key, o] of current) {
      const before = held.get(key);
      if (!before) deliver(event('ADDED', o, o.metadata.resourceVersion!));
      else if (before.metadata.resourceVersion !== o.metadata.resourceVersion) deliver(event('MODIFIED', o, o.metadata.resourceVersion!));
    }
    this.held = current;
    this.events.clear();
    return now.resourceVersion;
  }
}
