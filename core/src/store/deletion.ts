// Deletion as an API server does it, for a store that is not one (the SQLite store): finalizers
// keep a deleted object (marked with a deletionTimestamp) until the last one is removed. A
// cluster's API server does all of this itself, so the kubernetes store only forwards.
import type { KubeObject, ObjectKey, ResourceRef, ResourceStore, StoreDeleteOptions, StoreDeleteResult } from './resource-store.js';
import { StoreError } from './resource-store.js';
import { metaTimeNow } from '../api/meta-time.js';

export const namespaceFinalizer = 'kubernetes';
export const orphanFinalizer = 'orphan';
export const foregroundFinalizer = 'foregroundDeletion';

const isNamespace = (ref: ResourceRef) => ref.group === '' && ref.resource === 'namespaces';

/** What keeps an object from going: its finalizers and, for a namespace, its spec.finalizers. */
export function pendingFinalizers(ref: ResourceRef, obj: KubeObject): string[] {
  const meta = obj.metadata.finalizers ?? [];
  if (isNamespace(ref)) return [...meta, ...((obj.spec as { finalizers?: string[] } | undefined)?.finalizers ?? [])];
  return meta;
}

/** The finalizer a propagation policy adds to a deleted owner (the garbage collector's work). */
export function policyFinalizer(policy: StoreDeleteOptions['propagationPolicy']): string | undefined {
  return policy === 'Orphan' ? orphanFinalizer : policy === 'Foreground' ? foregroundFinalizer : undefined;
}


/**
 * Marks (finalizers pending) or removes the object, checking preconditions; retries lost races
 * unless the caller pinned a resourceVersion.
 */
export async function deleteWithFinalizers(store: ResourceStore, key: ObjectKey, opts: StoreDeleteOptions = {}): Promise<StoreDeleteResult> {
  const ref = { group: key.group, resource: key.resource };
  const pre = opts.preconditions;
  for (let attempt = 0; ; attempt++) {
    const obj = await store.get(key);
    if (!obj) throw new StoreError('NotFound', `${key.name} not found`);
    if (pre?.uid && pre.uid !== obj.metadata.uid) {
      throw new StoreError('Conflict', `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${obj.metadata.uid}`);
    }
    if (pre?.resourceVersion && pre.resourceVersion !== obj.metadata.resourceVersion) {
      throw new StoreError('Conflict', `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${obj.metadata.resourceVersion}`);
    }
    const extra = policyFinalizer(opts.propagationPolicy);
    const finalizers = [...(obj.metadata.finalizers ?? [])];
    if (extra && !finalizers.includes(extra) && !obj.metadata.deletionTimestamp) finalizers.push(extra);
    const pending = pendingFinalizers(ref, { ...obj, metadata: { ...obj.metadata, finalizers } });
    try {
      if (pending.length === 0) return { object: await store.delete(key, pre?.resourceVersion ?? obj.metadata.resourceVersion), pending: false };
      if (obj.metadata.deletionTimestamp) return { object: obj, pending: true };
      const marked: KubeObject = { ...obj, metadata: { ...obj.metadata, deletionTimestamp: metaTimeNow(), deletionGracePeriodSeconds: 0, finalizers } };
      // As kube-apiserver's markAsDeleting: a controller watching generation sees the deletion.
      if ((obj.metadata.generation ?? 0) > 0) marked.metadata.generation = obj.metadata.generation! + 1;
      if (finalizers.length === 0) delete marked.metadata.finalizers;
      if (isNamespace(ref)) marked.status = { ...(obj.status as object), phase: 'Terminating' };
      return { object: await store.update(ref, marked, obj.metadata.resourceVersion), pending: true };
    } catch (e) {
      if (e instanceof StoreError && e.reason === 'Conflict' && !pre?.resourceVersion && attempt < 10) continue;
      throw e;
    }
  }
}
