import { isDeepStrictEqual } from 'node:util';
import { EventEmitter } from 'node:events';
import type { KubeObject, ObjectKey, ResourceStore, Watcher } from '../store/resource-store.js';
import { namespaceFinalizer, pendingFinalizers, policyFinalizer } from '../store/deletion.js';
import { ApiError, badRequest, conflict, forbidden, invalid, notFound, alreadyExists } from '../api/status.js';
import { applyPatch, type PatchType } from '../api/patch.js';
import { applyConfig, recordUpdate, type Writer } from '../apply/field-manager.js';
import { showValue } from '../api/plain-data.js';
import { generatedNameSuffix } from './generated-name.js';
import { ownValue } from '../api/own-properties.js';
import { apiVersionOf, type KindDefinition, type RequestContext } from './kind.js';
import type { KindRegistry } from './kind-registry.js';
import type { SchemaValidator } from './schema-validator.js';
import type {
  AdmissionPlugin, AdmissionRequest, ApplyOptions, DeleteOptions, ListPage, ListQuery, WatchQuery, WatchSink, WriteOptions, WriteResult,
} from './resource-types.js';
import { listObjects, listObjectsJson } from './resource-list.js';
import { watchObjects } from './resource-watch.js';
import { toApiError } from './store-errors.js';
import {
  checkResourceVersion, checkShape, checkUnknownFields, decodeObject, hasPinnedVersion, specChanged, validateObject,
} from './write-checks.js';
import { metaTimeNow } from '../api/meta-time.js';
import { uuidV7 } from '../api/uuid-v7.js';

export type * from './resource-types.js';
export { parseResourceVersion } from './write-checks.js';
export { foregroundFinalizer, namespaceFinalizer, orphanFinalizer } from '../store/deletion.js';

/**
 * The generic REST logic of every kind — create, read, update, patch, delete, watch — with
 * validation, defaulting, optimistic concurrency, the status subresource and finalizers.
 * Kinds differ only by their KindDefinition and strategy. HTTP handlers and in-process
 * controllers both write through here, so the rules hold whoever writes.
 */
export class ResourceService extends EventEmitter<{
  deleting: [KindDefinition, KubeObject]; deleted: [KindDefinition, KubeObject];
  /** An object with ownerReferences was created or updated (the collector checks its owners exist). */
  owned: [KindDefinition, KubeObject];
}> {
  constructor(
    readonly store: ResourceStore,
    readonly kinds: KindRegistry,
    private readonly validator: SchemaValidator,
  ) {
    super();
    this.setMaxListeners(50);
  }

  private readonly admission: AdmissionPlugin[] = [];

  /** Checks that run on every create and update after validation, before anything is written. */
  addAdmission(plugin: AdmissionPlugin): void {
    this.admission.push(plugin);
  }

  private async admit(request: AdmissionRequest): Promise<void> {
    for (const plugin of this.admission) await plugin(request);
  }

  async get(def: KindDefinition, namespace: string, name: string): Promise<KubeObject> {
    const obj = await this.store.get(this.key(def, namespace, name));
    if (!obj) throw notFound(def.group, def.plural, name);
    return this.external(def, obj);
  }

  /** Whether getJson answers for this kind (the store keeps JSON text and the kind shows it as stored). */
  showsStoredJson(def: KindDefinition): boolean {
    return !!this.store.getRaw && !def.strategy?.toExternal;
  }

  /**
   * One object as stored JSON text when the kind shows it as stored (no write-only fields to
   * hide): the response is the row itself, never parsed and serialised again. Undefined when the
   * store cannot, or the kind transforms what it shows.
   */
  getJson(def: KindDefinition, namespace: string, name: string): string | undefined {
    if (!this.showsStoredJson(def)) return undefined;
    const raw = this.store.getRaw!(this.key(def, namespace, name));
    if (raw === undefined) throw notFound(def.group, def.plural, name);
    return raw;
  }

  /** The stored form, with write-only fields (for strategies and controllers of the core). */
  async getStored(def: KindDefinition, namespace: string, name: string): Promise<KubeObject | undefined> {
    return this.store.get(this.key(def, namespace, name));
  }

  /** Selectors and paging: resource-list.ts. */
  async list(def: KindDefinition, namespace: string, q: ListQuery = {}): Promise<ListPage> {
    return listObjects(this, def, namespace, q);
  }

  /** A list's items as the stored JSON text, when the store can give them so: resource-list.ts. */
  listJson(def: KindDefinition, namespace: string, q: ListQuery): { items: Buffer; resourceVersion: string; continue?: string } | undefined {
    return listObjectsJson(this, def, namespace, q);
  }

  async create(def: KindDefinition, namespace: string, body: unknown, ctx: RequestContext, opts: WriteOptions = {}): Promise<WriteResult> {
    const obj = decodeObject(def, body, namespace, opts.freshBody);
    const warnings = checkUnknownFields(def, obj, opts.fieldValidation);
    const m = obj.metadata;
    if (!m.name && typeof m.generateName === 'string' && m.generateName) m.name = `${m.generateName}${generatedNameSuffix()}`;
    checkShape(def, obj);
    if (def.namespaced) await this.requireLiveNamespace(namespace);
    // In time order: the uid index's inserts append (api/uuid-v7.ts).
    m.uid = uuidV7();
    m.creationTimestamp = metaTimeNow();
    m.generation = 1;
    const requestedFields = m.managedFields;
    delete m.resourceVersion;
    delete m.deletionTimestamp;
    delete m.deletionGracePeriodSeconds;
    delete m.managedFields;
    delete m.selfLink;
    if (def.subresources.status) delete obj.status;
    await def.strategy?.prepareForCreate?.(obj, ctx);
    validateObject(this.validator, def, obj, () => def.strategy?.validate?.(obj) ?? []);
    await this.admit({ operation: 'CREATE', def, object: obj, ctx });
    this.trackFields(def, undefined, obj, requestedFields, opts);
    if (opts.dryRun) {
      if (await this.store.get(this.key(def, namespace, m.name!))) throw alreadyExists(def.group, def.plural, m.name!);
      return { object: this.external(def, obj), warnings };
    }
    let created: KubeObject;
    try {
      created = await this.store.create(this.ref(def), obj);
    } catch (e) {
      throw toApiError(e, def, m.name!);
    }
    if (created.metadata.ownerReferences?.length) this.emit('owned', def, created);
    return { object: this.external(def, created), warnings };
  }

  async update(def: KindDefinition, namespace: string, name: string, body: unknown, ctx: RequestContext, opts: WriteOptions = {}): Promise<WriteResult> {
    const obj = decodeObject(def, body, namespace, opts.freshBody);
    if (obj.metadata.name !== undefined && obj.metadata.name !== name) {
      throw badRequest(`the name of the object (${showValue(obj.metadata.name)}) does not match the name on the URL (${name})`);
    }
    obj.metadata.name = name;
    const warnings = checkUnknownFields(def, obj, opts.fieldValidation);
    checkResourceVersion(obj.metadata.resourceVersion);
    const old = await this.store.get(this.key(def, namespace, name));
    if (!old) throw notFound(def.group, def.plural, name);
    return this.replace(def, old, obj, ctx, opts, obj.metadata.resourceVersion || undefined, warnings);
  }

  async patch(def: KindDefinition, namespace: string, name: string, type: PatchType, patch: unknown, ctx: RequestContext, opts: WriteOptions = {}): Promise<WriteResult> {
    // A patch without a resourceVersion applies to whatever is current: retry on races.
    for (let attempt = 0; ; attempt++) {
      const old = await this.store.get(this.key(def, namespace, name));
      if (!old) throw notFound(def.group, def.plural, name);
      const patched = applyPatch(type, this.external(def, old), patch);
      const obj = decodeObject(def, patched, namespace);
      if (obj.metadata.name !== name) throw badRequest(`a patch may not change metadata.name (from ${name} to ${showValue(obj.metadata.name)})`);
      const pinned = hasPinnedVersion(patch, type);
      if (pinned) checkResourceVersion(obj.metadata.resourceVersion);
      const warnings = checkUnknownFields(def, obj, opts.fieldValidation);
      try {
        return await this.replace(def, old, obj, ctx, opts, pinned ? obj.metadata.resourceVersion : old.metadata.resourceVersion, warnings);
      } catch (e) {
        if (!pinned && e instanceof ApiError && e.reason === 'Conflict' && attempt < 10) continue;
        throw e;
      }
    }
  }

  /**
   * Server-side apply (`application/apply-patch+yaml`): merges the configuration into the live
   * object by the kind's schema, or creates the object. `created` says which.
   */
  async apply(def: KindDefinition, namespace: string, name: string, body: unknown, ctx: RequestContext, opts: ApplyOptions): Promise<WriteResult & { created: boolean }> {
    const config = decodeObject(def, body, namespace);
    if (config.metadata.name !== undefined && config.metadata.name !== name) {
      throw badRequest(`the name of the object (${showValue(config.metadata.name)}) does not match the name on the URL (${name})`);
    }
    if (config.metadata.managedFields !== undefined) throw badRequest('metadata.managedFields must be nil in an apply configuration');
    const typed = ownValue(body, 'apiVersion') !== undefined && ownValue(body, 'kind') !== undefined;
    if (!typed) throw badRequest(`an apply configuration must say its apiVersion and kind (${apiVersionOf(def)}, ${def.kind})`);
    config.metadata.name = name;
    const pinned = config.metadata.resourceVersion || undefined;
    checkResourceVersion(pinned);
    const warnings = checkUnknownFields(def, config, opts.fieldValidation);
    if (opts.subresource === 'status') {
      for (const k of Object.keys(config)) if (!['apiVersion', 'kind', 'metadata', 'status'].includes(k)) delete config[k];
      config.metadata = { name, ...(config.metadata.namespace ? { namespace: config.metadata.namespace } : {}) };
    } else if (def.subresources.status) {
      delete config.status;
    }
    const writer = this.writerOf(def, opts);
    for (let attempt = 0; ; attempt++) {
      const old = await this.store.get(this.key(def, namespace, name));
      if (!old && (pinned || opts.subresource)) throw notFound(def.group, def.plural, name);
      const live = old && this.external(def, old);
      const merged = applyConfig(def, live, config, writer, opts.force ?? false);
      const applied = { ...opts, appliedFields: true };
      try {
        if (!old) {
          await opts.beforeCreate?.();
          return { ...(await this.create(def, namespace, merged, ctx, applied)), warnings, created: true };
        }
        // Nothing to change: no write, as kube-apiserver skips a write that changes nothing.
        if (isDeepStrictEqual(merged, live)) return { object: live!, warnings, created: false };
        return { ...(await this.replace(def, old, merged, ctx, applied, pinned ?? old.metadata.resourceVersion, warnings)), created: false };
      } catch (e) {
        const race = e instanceof ApiError && (e.reason === 'AlreadyExists' || (e.reason === 'Conflict' && !e.details?.causes));
        if (race && !pinned && attempt < 10) continue;
        throw e;
      }
    }
  }

  /** metadata.managedFields after a write: an apply computed them already; anything else is an Update. */
  private trackFields(def: KindDefinition, old: KubeObject | undefined, next: KubeObject, requested: unknown, opts: WriteOptions & { appliedFields?: boolean }): void {
    if (opts.appliedFields) {
      if (requested === undefined) delete next.metadata.managedFields;
      else next.metadata.managedFields = requested;
      return;
    }
    recordUpdate(def, old, next, requested, this.writerOf(def, opts));
  }

  private writerOf(def: KindDefinition, opts: WriteOptions): Writer {
    return { manager: opts.fieldManager ?? 'mortise-core', apiVersion: opts.apiVersion ?? apiVersionOf(def), subresource: opts.subresource ?? '' };
  }

  /** The common tail of update and patch: merge with the stored object by the kind's rules. */
  private async replace(def: KindDefinition, old: KubeObject, obj: KubeObject, ctx: RequestContext, opts: WriteOptions, expectedRv: string | undefined, warnings: string[]): Promise<WriteResult> {
    const name = old.metadata.name!;
    checkShape(def, obj);
    const m = obj.metadata;
    const requestedFields = m.managedFields;
    if (m.uid && m.uid !== old.metadata.uid) {
      throw conflict(def.group, def.plural, name, `Precondition failed: UID in precondition: ${showValue(m.uid)}, UID in object meta: ${old.metadata.uid}`);
    }
    let next: KubeObject;
    if (opts.subresource === 'status') {
      // Only status changes through /status.
      next = { ...structuredClone(old), status: obj.status };
      if (obj.status === undefined) delete next.status;
    } else {
      next = obj;
      // System fields are owned by the server.
      m.uid = old.metadata.uid;
      m.creationTimestamp = old.metadata.creationTimestamp;
      m.generation = old.metadata.generation;
      m.deletionTimestamp = old.metadata.deletionTimestamp;
      if (old.metadata.deletionGracePeriodSeconds !== undefined) m.deletionGracePeriodSeconds = old.metadata.deletionGracePeriodSeconds;
      else delete m.deletionGracePeriodSeconds;
      if (!m.deletionTimestamp) delete m.deletionTimestamp;
      delete m.managedFields;
      delete m.selfLink;
      if (def.subresources.status) {
        if (old.status === undefined) delete next.status;
        else next.status = structuredClone(old.status);
      }
      if (old.metadata.deletionTimestamp) {
        const added = (m.finalizers ?? []).filter((f) => !(old.metadata.finalizers ?? []).includes(f));
        if (added.length) throw invalid(def.group, def.kind, name, [{ reason: 'FieldValueForbidden', field: 'metadata.finalizers', message: `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}` }]);
      }
      await def.strategy?.prepareForUpdate?.(next, old, ctx);
      if (specChanged(def, next, old)) next.metadata.generation = (old.metadata.generation ?? 1) + 1;
    }
    validateObject(this.validator, def, next, () => [...(def.strategy?.validate?.(next) ?? []), ...(def.strategy?.validateUpdate?.(next, old) ?? [])]);
    await this.admit({ operation: 'UPDATE', def, object: next, old, ctx });
    this.trackFields(def, old, next, requestedFields, opts);
    if (opts.dryRun) return { object: this.external(def, { ...next, metadata: { ...next.metadata, resourceVersion: old.metadata.resourceVersion } }), warnings };
    let stored: KubeObject;
    try {
      stored = await this.store.update(this.ref(def), next, expectedRv, { subresource: opts.subresource === 'status' && def.subresources.status ? 'status' : '' });
    } catch (e) {
      throw toApiError(e, def, name);
    }
    if (stored.metadata.deletionTimestamp && finalizersOf(def, stored).length === 0) {
      // The last finalizer is gone: the store removed the object.
      this.emit('deleted', def, stored);
      return { object: this.external(def, stored), warnings };
    }
    if (stored.metadata.ownerReferences?.length) this.emit('owned', def, stored);
    return { object: this.external(def, stored), warnings };
  }

  async delete(def: KindDefinition, namespace: string, name: string, opts: DeleteOptions = {}): Promise<WriteResult> {
    const key = this.key(def, namespace, name);
    if (opts.dryRun) {
      const obj = await this.store.get(key);
      if (!obj) throw notFound(def.group, def.plural, name);
      const extra = policyFinalizer(opts.propagationPolicy);
      const pending = pendingFinalizers(this.ref(def), obj).length > 0 || (extra !== undefined && !obj.metadata.deletionTimestamp);
      return { object: this.external(def, obj), warnings: [], pending };
    }
    // The deletion itself (preconditions, finalizers, the deletionTimestamp) is the store's, as
    // it is a cluster's API server's.
    let result;
    try {
      result = await this.store.deleteObject(key, { preconditions: opts.preconditions, propagationPolicy: opts.propagationPolicy });
    } catch (e) {
      throw toApiError(e, def, name);
    }
    this.emit(result.pending ? 'deleting' : 'deleted', def, result.object);
    return { object: this.external(def, result.object), warnings: [], ...(result.pending ? { pending: true } : {}) };
  }

  async deleteCollection(def: KindDefinition, namespace: string, q: ListQuery, opts: DeleteOptions = {}): Promise<KubeObject[]> {
    const { items } = await this.list(def, namespace, { labelSelector: q.labelSelector, fieldSelector: q.fieldSelector });
    const out: KubeObject[] = [];
    for (const item of items) {
      try {
        out.push((await this.delete(def, item.metadata.namespace ?? '', item.metadata.name!, opts)).object);
      } catch (e) {
        if (!(e instanceof ApiError && e.code === 404)) throw e;
      }
    }
    return out;
  }

  async watch(def: KindDefinition, namespace: string, q: WatchQuery, sink: WatchSink): Promise<Watcher> {
    return watchObjects(this, def, namespace, q, sink);
  }

  /**
   * The namespace finalize subresource: replaces spec.finalizers, completing a deletion. A user
   * may not take off the `kubernetes` finalizer (the namespace controller's, removed once the
   * namespace is empty) while the namespace is live or still holds objects: the namespace would
   * go and leave them in the store, in force again for the next namespace of that name, whoever
   * creates it. Only the core's controllers (no user) decide otherwise.
   */
  async setNamespaceFinalizers(def: KindDefinition, current: KubeObject, finalizers: string[], ctx: RequestContext, opts: { dryRun?: boolean } = {}): Promise<WriteResult> {
    const had = (current.spec as { finalizers?: string[] } | undefined)?.finalizers ?? [];
    if (ctx.user && had.includes(namespaceFinalizer) && !finalizers.includes(namespaceFinalizer)) {
      const why = !current.metadata.deletionTimestamp ? 'the namespace is not being deleted' : (await this.holdsObjects(current.metadata.name!)) ? 'it still holds objects' : undefined;
      if (why) {
        throw invalid('', 'Namespace', current.metadata.name!, [{
          reason: 'FieldValueForbidden', field: 'spec.finalizers',
          message: `Forbidden: the "${namespaceFinalizer}" finalizer is removed by the namespace controller once the namespace is being deleted and empty, and ${why}: removing it now would leave its objects behind for the next namespace of this name`,
        }]);
      }
    }
    const next = structuredClone(current);
    next.spec = { ...(next.spec as object), finalizers };
    if (opts.dryRun) return { object: this.external(def, next), warnings: [] };
    let stored: KubeObject;
    try {
      stored = await this.store.update(this.ref(def), next, current.metadata.resourceVersion, { subresource: 'finalize' });
    } catch (e) {
      throw toApiError(e, def, current.metadata.name!);
    }
    // The store removed it when that was the last finalizer.
    if (stored.metadata.deletionTimestamp && finalizersOf(def, stored).length === 0) this.emit('deleted', def, stored);
    return { object: this.external(def, stored), warnings: [] };
  }

  /** Whether any object of a namespaced kind is in the namespace (those being deleted too). */
  private async holdsObjects(namespace: string): Promise<boolean> {
    for (const def of this.kinds.all()) {
      if (def.namespaced && (await this.store.list(this.ref(def), { namespace, limit: 1 })).items.length > 0) return true;
    }
    return false;
  }

  private async requireLiveNamespace(namespace: string): Promise<void> {
    const ns = this.store.namespaceForCreate
      ? await this.store.namespaceForCreate(namespace)
      : await this.store.get({ group: '', resource: 'namespaces', namespace: '', name: namespace });
    if (!ns) throw notFound('', 'namespaces', namespace);
    if (ns.metadata.deletionTimestamp) {
      throw forbidden(`unable to create new content in namespace ${namespace} because it is being terminated`);
    }
  }

  external(def: KindDefinition, obj: KubeObject): KubeObject {
    return def.strategy?.toExternal ? def.strategy.toExternal(obj) : obj;
  }

  ref(def: KindDefinition) {
    return { group: def.group, resource: def.plural };
  }

  key(def: KindDefinition, namespace: string, name: string): ObjectKey {
    return { group: def.group, resource: def.plural, namespace: def.namespaced ? namespace : '', name };
  }
}

export function finalizersOf(def: KindDefinition, obj: KubeObject): string[] {
  return pendingFinalizers({ group: def.group, resource: def.plural }, obj);
}

