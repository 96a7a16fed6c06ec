import type { Logger } from 'pino';
import type { KindRegistry } from '../registry/kind-registry.js';
import { namespaceFinalizer, type ResourceService } from '../registry/resource-service.js';
import { namespaceKind } from '../schemas/builtin.js';
import { Controller } from './controller.js';
import { ignoreNotFound } from './garbage-collector.js';

/** Empties a terminating namespace of every namespaced kind, then lets it go. */
export class NamespaceController extends Controller {
  private readonly def = namespaceKind();

  constructor(private readonly service: ResourceService, private readonly kinds: KindRegistry, logger: Logger) {
    super({ name: 'namespace', logger, resyncMs: 60_000 });
  }

  protected watch(enqueue: (key: string) => void): () => void {
    const w = this.service.store.watch(this.service.ref(this.def), {}, (e) => {
      if (e.type !== 'DELETED' && e.object.metadata.deletionTimestamp) enqueue(e.name);
    });
    return () => w.stop();
  }

  protected async listKeys(): Promise<string[]> {
    const { items } = await this.service.store.list(this.service.ref(this.def));
    return items.filter((n) => n.metadata.deletionTimestamp).map((n) => n.metadata.name!);
  }

  protected async reconcile(name: string): Promise<{ requeueAfterMs?: number } | void> {
    const ns = await this.service.getStored(this.def, '', name);
    if (!ns?.metadata.deletionTimestamp) return;
    let remaining = 0;
    for (const def of this.kinds.all().filter((d) => d.namespaced)) {
      await this.service.deleteCollection(def, name, {}, { propagationPolicy: 'Background' });
      remaining += (await this.service.store.list(this.service.ref(def), { namespace: name })).items.length;
    }
    if (remaining > 0) {
      this.logger.debug({ event: 'namespace.waiting', namespace: name, remaining }, 'waiting for finalizers of namespaced objects');
      return { requeueAfterMs: 500 };
    }
    const finalizers = ((ns.spec as { finalizers?: string[] })?.finalizers ?? []).filter((f) => f !== namespaceFinalizer);
    await this.service.setNamespaceFinalizers(this.def, ns, finalizers, {}).catch(ignoreNotFound);
    this.logger.info({ event: 'namespace.deleted', namespace: name }, 'namespace deleted');
  }
}
