import type { Logger } from 'pino';
import { ApiError } from '../api/status.js';
import type { KindRegistry } from '../registry/kind-registry.js';
import type { KindDefinition } from '../registry/kind.js';
import { foregroundFinalizer, orphanFinalizer, type ResourceService } from '../registry/resource-service.js';
import type { KubeObject } from '../store/resource-store.js';
import { Controller } from './controller.js';

/**
 * Cascading deletion through ownerReferences (the embedded mode's kube-controller-manager
 * garbage collector): dependents of a deleted owner are deleted unless another owner remains;
 * `orphan` and `foregroundDeletion` finalizers are honoured.
 */
export class GarbageCollector extends Controller {
  constructor(private readonly service: ResourceService, private readonly kinds: KindRegistry, logger: Logger) {
    super({ name: 'garbage-collector', logger, resyncMs: 60_000 });
  }

  protected watch(enqueue: (key: string) => void): () => void {
    const onDeleted = (_def: KindDefinition, obj: KubeObject) => enqueue(`gone/${obj.metadata.uid}`);
    const onDeleting = (def: KindDefinition, obj: KubeObject) => {
      const f = obj.metadata.finalizers ?? [];
      if (f.includes(orphanFinalizer) || f.includes(foregroundFinalizer)) enqueue(objectKey(def, obj));
    };
    // A dependent may name an owner that is already gone (created or re-pointed after the owner's deletion).
    const onOwned = () => enqueue(danglingKey);
    this.service.on('deleted', onDeleted);
    this.service.on('deleting', onDeleting);
    this.service.on('owned', onOwned);
    return () => {
      this.service.off('deleted', onDeleted);
      this.service.off('deleting', onDeleting);
      this.service.off('owned', onOwned);
    };
  }

  protected async listKeys(): Promise<string[]> {
    const keys = (await this.service.store.danglingOwnerUids()).map((uid) => `gone/${uid}`);
    for (const def of this.kinds.all()) {
      const { items } = await this.service.store.list(this.service.ref(def));
      for (const o of items) {
        const f = o.metadata.finalizers ?? [];
        if (o.metadata.deletionTimestamp && (f.includes(orphanFinalizer) || f.includes(foregroundFinalizer))) keys.push(objectKey(def, o));
      }
    }
    return keys;
  }

  protected async reconcile(key: string): Promise<{ requeueAfterMs?: number } | void> {
    if (key === danglingKey) {
      for (const uid of await this.service.store.danglingOwnerUids()) await this.collectDependents(uid);
      return;
    }
    if (key.startsWith('gone/')) return this.collectDependents(key.slice(5));
    return this.finalizeOwner(key);
  }

  /** The owner is gone: each dependent loses the reference, and is deleted if no owner is left. */
  private async collectDependents(uid: string): Promise<void> {
    for (const { ref, object } of await this.service.store.listDependents(uid)) {
      const def = this.kinds.byGroupResource(ref.group, ref.resource);
      if (!def) continue;
      const remaining = (object.metadata.ownerReferences ?? []).filter((o) => o.uid !== uid);
      const ns = object.metadata.namespace ?? '';
      if (remaining.length > 0) {
        await this.service.patch(def, ns, object.metadata.name!, 'merge', { metadata: { ownerReferences: remaining } }, {}).catch(ignoreNotFound);
      } else {
        await this.service.delete(def, ns, object.metadata.name!, { propagationPolicy: 'Background' }).catch(ignoreNotFound);
        this.logger.debug({ event: 'gc.deleted', resource: def.plural, namespace: ns, name: object.metadata.name }, 'deleted a dependent');
      }
    }
  }

  private async finalizeOwner(key: string): Promise<{ requeueAfterMs?: number } | void> {
    const [group, plural, ns, name] = key.split('/') as [string, string, string, string];
    const def = this.kinds.byGroupResource(group, plural);
    if (!def) return;
    const owner = await this.service.getStored(def, ns, name);
    if (!owner?.metadata.deletionTimestamp) return;
    const finalizers = owner.metadata.finalizers ?? [];
    const dependents = await this.service.store.listDependents(owner.metadata.uid!);
    if (finalizers.includes(orphanFinalizer)) {
      for (const { ref, object } of dependents) {
        const d = this.kinds.byGroupResource(ref.group, ref.resource);
        if (!d) continue;
        const remaining = (object.metadata.ownerReferences ?? []).filter((o) => o.uid !== owner.metadata.uid);
        await this.service.patch(d, object.metadata.namespace ?? '', object.metadata.name!, 'merge', { metadata: { ownerReferences: remaining.length ? remaining : null } }, {}).catch(ignoreNotFound);
      }
      return this.removeFinalizer(def, owner, orphanFinalizer);
    }
    if (finalizers.includes(foregroundFinalizer)) {
      if (dependents.length > 0) {
        for (const { ref, object } of dependents) {
          const d = this.kinds.byGroupResource(ref.group, ref.resource);
          if (!d || object.metadata.deletionTimestamp) continue;
          await this.service.delete(d, object.metadata.namespace ?? '', object.metadata.name!, { propagationPolicy: 'Foreground' }).catch(ignoreNotFound);
        }
        return { requeueAfterMs: 200 };
      }
      return this.removeFinalizer(def, owner, foregroundFinalizer);
    }
  }

  private async removeFinalizer(def: KindDefinition, owner: KubeObject, finalizer: string): Promise<void> {
    const rest = (owner.metadata.finalizers ?? []).filter((f) => f !== finalizer);
    await this.service.patch(def, owner.metadata.namespace ?? '', owner.metadata.name!, 'merge', { metadata: { finalizers: rest.length ? rest : null } }, {}).catch(ignoreNotFound);
  }
}

const danglingKey = 'dangling';
const objectKey = (def: KindDefinition, o: KubeObject) => `${def.group}/${def.plural}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

export function ignoreNotFound(e: unknown): void {
  if (e instanceof ApiError && e.code === 404) return;
  throw e;
}
