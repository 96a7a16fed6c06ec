import type { Logger } from 'pino';
import { crdCleanupFinalizer, kindFromCrd } from '../registry/crd.js';
import type { KindRegistry } from '../registry/kind-registry.js';
import type { KindDefinition } from '../registry/kind.js';
import type { ResourceService } from '../registry/resource-service.js';
import type { KubeObject } from '../store/resource-store.js';
import { Controller } from './controller.js';
import { ignoreNotFound } from './garbage-collector.js';
import { metaTimeNow } from '../api/meta-time.js';

/**
 * Serves the kinds CustomResourceDefinitions define. Registration happens as the CRD is
 * written (so a client may create objects right after its CRD); status and the cleanup of a
 * deleted CRD's objects happen in the reconcile loop.
 */
export class CrdController extends Controller {
  constructor(
    private readonly service: ResourceService, private readonly kinds: KindRegistry, private readonly crdDef: KindDefinition, logger: Logger,
    /** In a cluster its API server keeps CRD status and removes a deleted CRD's objects: this controller only serves the kinds. */
    private readonly mode: { clusterManaged?: boolean } = {},
  ) {
    super({ name: 'customresourcedefinitions', logger, resyncMs: 60_000 });
  }

  /** Registers every stored CRD (at start, before serving). */
  async loadAll(): Promise<void> {
    const { items } = await this.service.store.list(this.service.ref(this.crdDef));
    for (const crd of items) this.serve(crd);
  }

  protected watch(enqueue: (key: string) => void): () => void {
    const w = this.service.store.watch(this.service.ref(this.crdDef), {}, (e) => {
      if (e.type === 'DELETED') this.unserve(e.object);
      else this.serve(e.object);
      enqueue(e.name);
    });
    return () => w.stop();
  }

  protected async listKeys(): Promise<string[]> {
    const { items } = await this.service.store.list(this.service.ref(this.crdDef));
    return items.map((c) => c.metadata.name!);
  }

  protected async reconcile(name: string): Promise<{ requeueAfterMs?: number } | void> {
    if (this.mode.clusterManaged) return;
    const crd = await this.service.getStored(this.crdDef, '', name);
    if (!crd) return;
    const def = kindFromCrd(crd);
    if (crd.metadata.deletionTimestamp) {
      let remaining = 0;
      const served = this.kinds.byGroupResource(def.group, def.plural) ?? def;
      await this.service.deleteCollection(served, '', {}, { propagationPolicy: 'Background' });
      remaining = (await this.service.store.list(this.service.ref(served))).items.length;
      if (remaining > 0) return { requeueAfterMs: 500 };
      const rest = (crd.metadata.finalizers ?? []).filter((f) => f !== crdCleanupFinalizer);
      await this.service.patch(this.crdDef, '', name, 'merge', { metadata: { finalizers: rest.length ? rest : null } }, {}).catch(ignoreNotFound);
      return;
    }
    const spec = crd.spec as { names: object; versions: Array<{ name: string; storage: boolean }> };
    const status = {
      conditions: [
        { type: 'NamesAccepted', status: 'True', reason: 'NoConflicts', message: 'no conflicts found' },
        { type: 'Established', status: 'True', reason: 'InitialNamesAccepted', message: 'the initial names have been accepted' },
      ],
      acceptedNames: spec.names,
      storedVersions: [...new Set([...((crd.status as { storedVersions?: string[] })?.storedVersions ?? []), spec.versions.find((v) => v.storage)!.name])],
    };
    const old = crd.status as { acceptedNames?: unknown; storedVersions?: unknown; conditions?: Array<{ lastTransitionTime?: string }> } | undefined;
    if (old && JSON.stringify(old.acceptedNames) === JSON.stringify(status.acceptedNames) && JSON.stringify(old.storedVersions) === JSON.stringify(status.storedVersions) && old.conditions?.length === 2) return;
    const stamp = metaTimeNow();
    await this.service.patch(this.crdDef, '', name, 'merge', { status: { ...status, conditions: status.conditions.map((c) => ({ ...c, lastTransitionTime: stamp })) } }, {}, { subresource: 'status' }).catch(ignoreNotFound);
  }

  private serve(crd: KubeObject) {
    try {
      const def = kindFromCrd(crd);
      const existing = this.kinds.byGroupResource(def.group, def.plural);
      if (existing && existing.source === 'builtin') return;
      this.kinds.register(def);
    } catch (e) {
      this.logger.warn({ event: 'crd.invalid', name: crd.metadata.name, err: (e as Error).message }, 'cannot serve a CRD');
    }
  }

  private unserve(crd: KubeObject) {
    const def = kindFromCrd(crd);
    const existing = this.kinds.byGroupResource(def.group, def.plural);
    if (existing?.source === 'crd') this.kinds.unregister(def.group, def.plural);
  }
}
