import { randomBytes, randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { EventEmitter } from 'node:events';
import type { KubeObject, ObjectKey, ResourceStore, StoreEvent, Watcher } from '../store/resource-store.js';
import { StoreError } from '../store/resource-store.js';
import { pendingFinalizers, policyFinalizer } from '../store/deletion.js';
import {
  ApiError, alreadyExists, badRequest, conflict, forbidden, invalid, notFound, qualified, type StatusCause,
} from '../api/status.js';
import { applyPatch, type PatchType } from '../api/patch.js';
import { applyConfig, recordUpdate, type Writer } from '../apply/field-manager.js';
import { findDataProblem, shortField, showValue } from '../api/plain-data.js';
import { isPlainObject, ownValue } from '../api/own-properties.js';
import {
  matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector, type FieldSelector, type LabelSelector,
} from '../api/selectors.js';
import { apiVersionOf, type KindDefinition, type RequestContext } from './kind.js';
import type { KindRegistry } from './kind-registry.js';
import { validateObjectMeta } from './object-meta.js';
import { findUnknownFields, pruneUnknownFields, type SchemaValidator } from './schema-validator.js';

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

export interface WriteOptions {
  dryRun?: boolean;
  fieldValidation?: FieldValidation;
  subresource?: '' | 'status';
  /** Who writes, recorded in metadata.managedFields; the core's own writers are "mortise-core". */
  fieldManager?: string;
  /** The apiVersion the client used (managedFields record it); default the storage version. */
  apiVersion?: string;
}

export interface ApplyOptions extends WriteOptions {
  fieldManager: string;
  /** Take fields other managers own instead of refusing with a conflict. */
  force?: boolean;
  /** Called before an apply creates the object: throws when the caller may not create it. */
  beforeCreate?: () => Promise<void>;
}

export interface WriteResult {
  object: KubeObject;
  warnings: string[];
  /** True when a delete only marked the object (finalizers pending). */
  pending?: boolean;
}

export interface ListQuery {
  labelSelector?: string | null;
  fieldSelector?: string | null;
  /** Only the object of this name: the request named it, and was authorized for it alone. */
  name?: string;
  limit?: number;
  continue?: string | null;
}

export interface ListPage {
  items: KubeObject[];
  resourceVersion: string;
  continue?: string;
}

export interface DeleteOptions {
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

export interface WatchQuery {
  resourceVersion?: string | null;
  labelSelector?: string | null;
  fieldSelector?: string | null;
  /** Only the object of this name: the request named it, and was authorized for it alone. */
  name?: string;
  sendInitialEvents?: boolean;
}

export interface AdmissionRequest {
  operation: 'CREATE' | 'UPDATE';
  def: KindDefinition;
  object: KubeObject;
  old?: KubeObject;
  /** Who asks; no user means the core itself (controllers), which admission plugins trust. */
  ctx: RequestContext;
}

/** Throws an ApiError to refuse the write. */
export type AdmissionPlugin = (request: AdmissionRequest) => Promise<void>;

/** ERROR carries a Status and ends the watch (a resourceVersion too old: 410 Expired). */
export type WatchSink = (type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR', object: KubeObject) => void;

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

  /**
   * One object as stored JSON text when the kind shows it as stored (no write-only fields to
   * hide): the response is the row itself, never parsed and serialised again. Undefined when the
   * store cannot, or the kind transforms what it shows.
   */
  getJson(def: KindDefinition, namespace: string, name: string): string | undefined {
    if (!this.store.getRaw || def.strategy?.toExternal) return undefined;
    const raw = this.store.getRaw(this.key(def, namespace, name));
    if (raw === undefined) throw notFound(def.group, def.plural, name);
    return raw;
  }

  /** The stored form, with write-only fields (for strategies and controllers of the core). */
  async getStored(def: KindDefinition, namespace: string, name: string): Promise<KubeObject | undefined> {
    return this.store.get(this.key(def, namespace, name));
  }

  async list(def: KindDefinition, namespace: string, q: ListQuery = {}): Promise<ListPage> {
    const labels = parseLabelSelector(q.labelSelector);
    const fields = parseFieldSelector(q.fieldSelector);
    const limit = q.limit && q.limit > 0 ? q.limit : undefined;
    let after = q.continue ? decodeContinue(q.continue) : undefined;
    const items: KubeObject[] = [];
    let resourceVersion = '';
    let more = false;
    // Selectors filter after reading, so read in batches until the page is full.
    for (;;) {
      const batch = limit ? Math.max(limit * 2, 100) : undefined;
      const res = await this.store.list(this.ref(def), { namespace: def.namespaced && namespace ? namespace : undefined, after, limit: batch });
      resourceVersion ||= res.resourceVersion;
      let i = 0;
      for (; i < res.items.length; i++) {
        const o = res.items[i]!;
        if ((q.name !== undefined && o.metadata.name !== q.name) || !matchesLabels(labels, o.metadata.labels) || !matchesFields(fields, o)) continue;
        if (limit && items.length === limit) {
          more = true;
          break;
        }
        items.push(this.external(def, o));
      }
      if (more || !res.last) {
        if (more) {
          const lastItem = items[items.length - 1]!;
          after = { namespace: lastItem.metadata.namespace ?? '', name: lastItem.metadata.name! };
        }
        break;
      }
      after = res.last;
    }
    return { items, resourceVersion, ...(more && after ? { continue: encodeContinue(after) } : {}) };
  }

  /**
   * A whole, unfiltered list as JSON text straight from the store, when nothing needs to be
   * parsed (no selectors, no paging, no write-only fields to hide); undefined otherwise.
   */
  listJson(def: KindDefinition, namespace: string, q: ListQuery): { items: string; resourceVersion: string } | undefined {
    if (!this.store.listRaw || def.strategy?.toExternal || q.labelSelector || q.fieldSelector || q.name !== undefined || q.limit || q.continue) return undefined;
    const raw = this.store.listRaw(this.ref(def), { namespace: def.namespaced && namespace ? namespace : undefined });
    return { items: `[${raw.rows.join(',')}]`, resourceVersion: raw.resourceVersion };
  }

  async create(def: KindDefinition, namespace: string, body: unknown, ctx: RequestContext, opts: WriteOptions = {}): Promise<WriteResult> {
    const obj = this.decode(def, body, namespace);
    const warnings = this.checkUnknownFields(def, obj, opts.fieldValidation);
    const m = obj.metadata;
    if (!m.name && typeof m.generateName === 'string' && m.generateName) m.name = `${m.generateName}${randomSuffix()}`;
    this.checkShape(def, obj);
    if (def.namespaced) await this.requireLiveNamespace(namespace);
    m.uid = randomUUID();
    m.creationTimestamp = now();
    m.generation = 1;
    const requestedFields = m.managedFields;
    delete m.resourceVersion;
    delete m.deletionTimestamp;
    delete m.deletionGracePeriodSeconds;
    delete m.managedFields;
    delete m.selfLink;
    if (def.subresources.status) delete obj.status;
    await def.strategy?.prepareForCreate?.(obj, ctx);
    this.validate(def, obj, () => def.strategy?.validate?.(obj) ?? []);
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
      throw this.storeError(e, def, m.name!);
    }
    if (created.metadata.ownerReferences?.length) this.emit('owned', def, created);
    return { object: this.external(def, created), warnings };
  }

  async update(def: KindDefinition, namespace: string, name: string, body: unknown, ctx: RequestContext, opts: WriteOptions = {}): Promise<WriteResult> {
    const obj = this.decode(def, body, namespace);
    if (obj.metadata.name !== undefined && obj.metadata.name !== name) {
      throw badRequest(`the name of the object (${showValue(obj.metadata.name)}) does not match the name on the URL (${name})`);
    }
    obj.metadata.name = name;
    const warnings = this.checkUnknownFields(def, obj, opts.fieldValidation);
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
      const obj = this.decode(def, patched, namespace);
      if (obj.metadata.name !== name) throw badRequest(`a patch may not change metadata.name (from ${name} to ${showValue(obj.metadata.name)})`);
      const pinned = hasPinnedVersion(patch, type);
      if (pinned) checkResourceVersion(obj.metadata.resourceVersion);
      const warnings = this.checkUnknownFields(def, obj, opts.fieldValidation);
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
    const config = this.decode(def, body, namespace);
    if (config.metadata.name !== undefined && config.metadata.name !== name) {
      throw badRequest(`the name of the object (${showValue(config.metadata.name)}) does not match the name on the URL (${name})`);
    }
    if (config.metadata.managedFields !== undefined) throw badRequest('metadata.managedFields must be nil in an apply configuration');
    const typed = ownValue(body, 'apiVersion') !== undefined && ownValue(body, 'kind') !== undefined;
    if (!typed) throw badRequest(`an apply configuration must say its apiVersion and kind (${apiVersionOf(def)}, ${def.kind})`);
    config.metadata.name = name;
    const pinned = config.metadata.resourceVersion || undefined;
    checkResourceVersion(pinned);
    const warnings = this.checkUnknownFields(def, config, opts.fieldValidation);
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
    this.checkShape(def, obj);
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
    this.validate(def, next, () => [...(def.strategy?.validate?.(next) ?? []), ...(def.strategy?.validateUpdate?.(next, old) ?? [])]);
    await this.admit({ operation: 'UPDATE', def, object: next, old, ctx });
    this.trackFields(def, old, next, requestedFields, opts);
    if (opts.dryRun) return { object: this.external(def, { ...next, metadata: { ...next.metadata, resourceVersion: old.metadata.resourceVersion } }), warnings };
    let stored: KubeObject;
    try {
      stored = await this.store.update(this.ref(def), next, expectedRv);
    } catch (e) {
      throw this.storeError(e, def, name);
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
      throw this.storeError(e, def, name);
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

  /**
   * Streams changes. Without a resourceVersion (or with "0", or sendInitialEvents) the
   * current objects come first as ADDED; with one, history after it is replayed.
   */
  async watch(def: KindDefinition, namespace: string, q: WatchQuery, sink: WatchSink): Promise<Watcher> {
    const labels: LabelSelector = parseLabelSelector(q.labelSelector);
    const fields: FieldSelector = parseFieldSelector(q.fieldSelector);
    const matches = (o: KubeObject | undefined) => o !== undefined && (q.name === undefined || o.metadata.name === q.name)
      && matchesLabels(labels, o.metadata.labels) && matchesFields(fields, o);
    const ns = def.namespaced && namespace ? namespace : undefined;
    const rvText = q.resourceVersion ?? '';
    let since: string;
    const initial = rvText === '' || rvText === '0' || q.sendInitialEvents === true;
    if (!initial) {
      parseResourceVersion(rvText);
      since = rvText;
    } else {
      const page = await this.store.list(this.ref(def), { namespace: ns });
      for (const o of page.items) if (matches(o)) sink('ADDED', this.external(def, o));
      since = page.resourceVersion;
      if (q.sendInitialEvents) {
        sink('BOOKMARK', { apiVersion: apiVersionOf(def), kind: def.kind, metadata: { resourceVersion: since, annotations: { 'k8s.io/initial-events-end': 'true' } } });
      }
    }
    const onEvent = (e: StoreEvent) => {
      const now = matches(e.object);
      const before = e.type === 'MODIFIED' && e.previous !== undefined ? matches(e.previous) : now;
      if (e.type === 'MODIFIED' && before !== now) {
        // An object entering or leaving the selection is added or deleted for this watcher.
        sink(now ? 'ADDED' : 'DELETED', this.external(def, e.object));
      } else if (now) {
        sink(e.type, this.external(def, e.object));
      }
    };
    // A version too old to replay ends the stream with an ERROR event carrying the 410, after it opened.
    const onError = (e: StoreError) => sink('ERROR', storeErrorToApi(e, def, '').toStatus() as unknown as KubeObject);
    try {
      return this.store.watch(this.ref(def), { namespace: ns, sinceResourceVersion: since }, onEvent, onError);
    } catch (e) {
      throw this.storeError(e, def, '');
    }
  }

  /** The namespace finalize subresource: replaces spec.finalizers, completing a deletion. */
  async setNamespaceFinalizers(def: KindDefinition, current: KubeObject, finalizers: string[], _ctx: RequestContext): Promise<WriteResult> {
    const next = structuredClone(current);
    next.spec = { ...(next.spec as object), finalizers };
    let stored: KubeObject;
    try {
      stored = await this.store.update(this.ref(def), next, current.metadata.resourceVersion);
    } catch (e) {
      throw this.storeError(e, def, current.metadata.name!);
    }
    // The store removed it when that was the last finalizer.
    if (stored.metadata.deletionTimestamp && finalizersOf(def, stored).length === 0) this.emit('deleted', def, stored);
    return { object: this.external(def, stored), warnings: [] };
  }

  private decode(def: KindDefinition, body: unknown, namespace: string): KubeObject {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest(`the body must be a JSON object describing a ${def.kind}`);
    // Before anything clones, compares or stores it (a patch can deepen what the body held).
    const problem = findDataProblem(body);
    if (problem) throw invalid(def.group, def.kind, showValue(ownValue(ownValue(body, 'metadata'), 'name') ?? ''), [{ reason: 'FieldValueInvalid', field: shortField(problem.field) || '<root>', message: `Invalid value: ${problem.message}` }]);
    const obj = structuredClone(body) as KubeObject;
    const expectedApiVersion = apiVersionOf(def);
    if (obj.kind !== undefined && obj.kind !== def.kind) {
      throw badRequest(`the kind of the object (${showValue(obj.kind)}) does not match the kind served at this path (${def.kind})`);
    }
    if (obj.apiVersion !== undefined && !(def.servedVersions ?? [def.version]).map((v) => apiVersionOf({ group: def.group, version: v })).includes(obj.apiVersion as string)) {
      throw badRequest(`the apiVersion of the object (${showValue(obj.apiVersion)}) does not match the API at this path (${expectedApiVersion})`);
    }
    obj.apiVersion = expectedApiVersion;
    obj.kind = def.kind;
    if (obj.metadata === undefined) obj.metadata = {};
    if (obj.metadata === null || typeof obj.metadata !== 'object' || Array.isArray(obj.metadata)) {
      throw invalid(def.group, def.kind, '', [{ reason: 'FieldValueInvalid', field: 'metadata', message: 'Invalid value: metadata must be an object' }]);
    }
    if (def.namespaced) {
      if (!namespace) throw badRequest(`${qualified(def.group, def.plural)} is namespaced: use a path with /namespaces/{namespace}/`);
      if (obj.metadata.namespace !== undefined && obj.metadata.namespace !== '' && obj.metadata.namespace !== namespace) {
        throw badRequest(`the namespace of the provided object (${showValue(obj.metadata.namespace)}) does not match the namespace sent on the request (${namespace})`);
      }
      obj.metadata.namespace = namespace;
    } else {
      delete obj.metadata.namespace;
    }
    return obj;
  }

  private checkUnknownFields(def: KindDefinition, obj: KubeObject, mode: FieldValidation = 'Strict'): string[] {
    const unknown = findUnknownFields(def.schema, obj);
    if (unknown.length === 0) return [];
    if (mode === 'Strict') {
      throw invalid(def.group, def.kind, obj.metadata.name ?? '', unknown.map((f) => ({ reason: 'FieldValueInvalid', field: f, message: `unknown field "${f}"` })));
    }
    pruneUnknownFields(def.schema, obj);
    return mode === 'Warn' ? unknown.map((f) => `unknown field "${f}"`) : [];
  }

  /**
   * Before a strategy prepares the object: ObjectMeta and the top-level fields (spec, status)
   * must already have the types strategies reach into.
   */
  private checkShape(def: KindDefinition, obj: KubeObject): void {
    const causes = [...validateObjectMeta(obj, def), ...topLevelShapeErrors(def, obj)];
    if (causes.length) throw invalid(def.group, def.kind, typeof obj.metadata.name === 'string' ? obj.metadata.name : '', causes);
  }

  /** The schema first; a kind's own checks (`strategy`) run on what the schema let through. */
  private validate(def: KindDefinition, obj: KubeObject, strategy: () => StatusCause[]): void {
    const causes = [...validateObjectMeta(obj, def), ...this.validator.validate(def.schema, obj)];
    if (!causes.length) causes.push(...strategy());
    if (causes.length) throw invalid(def.group, def.kind, obj.metadata.name ?? '', causes);
  }

  private async requireLiveNamespace(namespace: string): Promise<void> {
    const ns = await this.store.get({ group: '', resource: 'namespaces', namespace: '', name: namespace });
    if (!ns) throw notFound('', 'namespaces', namespace);
    if (ns.metadata.deletionTimestamp) {
      throw forbidden(`unable to create new content in namespace ${namespace} because it is being terminated`);
    }
  }

  private storeError(e: unknown, def: KindDefinition, name: string): unknown {
    if (!(e instanceof StoreError)) return e;
    return storeErrorToApi(e, def, name);
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

/** A store's typed error as the API's Status error. */
function storeErrorToApi(e: StoreError, def: KindDefinition, name: string): ApiError {
  switch (e.reason) {
    case 'AlreadyExists': return alreadyExists(def.group, def.plural, name);
    case 'NotFound': return notFound(def.group, def.plural, name);
    case 'Conflict': return conflict(def.group, def.plural, name, e.message);
    case 'Invalid': return badRequest(e.message);
    case 'Unavailable': return new ApiError(503, 'ServiceUnavailable', e.message);
    default: return new ApiError(410, 'Expired', e.message);
  }
}

export function finalizersOf(def: KindDefinition, obj: KubeObject): string[] {
  return pendingFinalizers({ group: def.group, resource: def.plural }, obj);
}

/** Top-level fields the schema declares as objects (spec, status, …) that hold something else. */
function topLevelShapeErrors(def: KindDefinition, obj: KubeObject): StatusCause[] {
  const props = (def.schema.properties ?? {}) as Record<string, { type?: unknown }>;
  const causes: StatusCause[] = [];
  for (const [field, schema] of Object.entries(props)) {
    if (field === 'metadata' || schema?.type !== 'object' || !Object.hasOwn(obj, field)) continue;
    const v = (obj as Record<string, unknown>)[field];
    if (v !== undefined && v !== null && !isPlainObject(v)) causes.push({ reason: 'FieldValueTypeInvalid', field, message: `Invalid value: ${field} must be an object, not ${Array.isArray(v) ? 'a list' : `a ${typeof v}`}` });
  }
  return causes;
}

function specChanged(def: KindDefinition, next: KubeObject, old: KubeObject): boolean {
  const strip = (o: KubeObject) => {
    const { metadata: _m, status, ...rest } = o;
    return JSON.stringify(def.subresources.status ? rest : { ...rest, status });
  };
  return strip(next) !== strip(old);
}

function hasPinnedVersion(patch: unknown, type: PatchType): boolean {
  if (type === 'json') return Array.isArray(patch) && patch.some((op) => typeof op?.path === 'string' && op.path === '/metadata/resourceVersion');
  const rv = (patch as { metadata?: { resourceVersion?: unknown } } | null)?.metadata?.resourceVersion;
  return typeof rv === 'string' && rv !== '';
}

/** A resourceVersion in a body must be one the server handed out (a string of digits) or empty. */
function checkResourceVersion(rv: unknown): void {
  if (rv === undefined || rv === null || rv === '') return;
  if (typeof rv !== 'string') throw badRequest(`metadata.resourceVersion must be a string, got ${JSON.stringify(rv)}`);
  parseResourceVersion(rv);
}

export function parseResourceVersion(text: string): number {
  if (!/^\d+$/.test(text)) throw badRequest(`invalid resource version "${text}": resource versions are opaque strings obtained from a list or a get`);
  return Number(text);
}

const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
const randomSuffix = () => {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  return [...randomBytes(5)].map((b) => alphabet[b % alphabet.length]).join('');
};

function encodeContinue(after: { namespace: string; name: string }): string {
  return Buffer.from(JSON.stringify({ v: 1, ns: after.namespace, n: after.name })).toString('base64url');
}

function decodeContinue(token: string): { namespace: string; name: string } {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { v: number; ns: string; n: string };
    if (parsed.v !== 1 || typeof parsed.ns !== 'string' || typeof parsed.n !== 'string') throw new Error('shape');
    return { namespace: parsed.ns, name: parsed.n };
  } catch {
    throw badRequest('the continue token is not valid: pass back exactly the metadata.continue of the previous page');
  }
}
