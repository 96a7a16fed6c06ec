import { ApiError, invalid } from '../api/status.js';
import type { KindDefinition } from '../registry/kind.js';
import type { KubeObject } from '../store/resource-store.js';
import { compare, type Comparison } from './compare.js';
import { createdFieldsV1, ownershipFilter } from './created-fields.js';
import { FieldSet, pathText, type FieldPath } from './field-set.js';
import { fieldSetOf } from './field-set-of.js';
import { decodeManagedFields, encodeManagedFields, identityOf, type Manager, type Managers } from './managed-fields.js';
import { kubectlManager, lastAppliedFields, syncLastApplied } from './last-applied.js';
import { merge, MergeError } from './merge.js';
import { pruneFields } from './remove-fields.js';
import { objectSchemaOf } from './schema-shape.js';
import { metaTimeNow } from '../api/meta-time.js';

// Server-side apply and field ownership, after kube-apiserver's fieldmanager and
// structured-merge-diff's Updater: every write records who changed which fields
// (operation Update); an apply merges a configuration into the live object, takes
// ownership of what it sets, refuses to change what another manager owns unless forced,
// and removes what it set last time and no longer sets when nobody else owns it.

/** Who writes: the field manager, the apiVersion of the request and the subresource. */
export interface Writer {
  manager: string;
  apiVersion: string;
  subresource: '' | 'status';
}

/** Fields of ObjectMeta the server sets: nobody owns them. */
const serverMetadata = ['name', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'selfLink', 'deletionTimestamp', 'deletionGracePeriodSeconds'];
const untracked: FieldPath[] = [['f:apiVersion'], ['f:kind'], ['f:metadata'], ...serverMetadata.map((k) => ['f:metadata', `f:${k}`])];
const managedFieldsPath: FieldPath = ['f:metadata', 'f:managedFields'];
const statusPath: FieldPath = ['f:status'];
/** tracked() of a create, as created-fields.ts applies it. */
const created = ownershipFilter(untracked, [managedFieldsPath]);
const createdWithStatusSubresource = ownershipFilter(untracked, [managedFieldsPath, statusPath]);

/**
 * The part of a field set a writer can own: not the server's metadata, and (as the kinds'
 * reset fields in kube-apiserver) not status through the main resource of a kind with a
 * status subresource, nothing but status through /status.
 */
function tracked(def: KindDefinition, subresource: Writer['subresource'], set: FieldSet): FieldSet {
  if (subresource === 'status') return set.onlySubtree(statusPath);
  return set.without(untracked, def.subresources.status ? [managedFieldsPath, statusPath] : [managedFieldsPath]);
}

/** The object as compared: managedFields are bookkeeping, not content. */
const content = (o: KubeObject | Record<string, never>): unknown => (o.metadata ? { ...o, metadata: { ...o.metadata, managedFields: undefined } } : o);

function changes(def: KindDefinition, writer: Writer, before: KubeObject | Record<string, never>, after: KubeObject): Comparison {
  const c = compare(content(before), content(after), objectSchemaOf(def));
  return { added: tracked(def, writer.subresource, c.added), removed: tracked(def, writer.subresource, c.removed), modified: tracked(def, writer.subresource, c.modified) };
}

/**
 * Records an ordinary write (create, update, patch) in `next.metadata.managedFields`.
 * `requested` is the managedFields the client sent: the base when it is a valid, changed list
 * (so clients can migrate or reset ownership); `[{}]` clears them all, as in Kubernetes.
 */
export function recordUpdate(def: KindDefinition, live: KubeObject | undefined, next: KubeObject, requested: unknown, writer: Writer): void {
  if (!live && requested === undefined) return recordCreate(def, next, writer);
  const liveFields = live?.metadata.managedFields;
  let managers: Managers;
  if (Array.isArray(requested) && requested.length > 0 && !isSameJson(requested, liveFields)) {
    if (requested.every((e) => e !== null && typeof e === 'object' && Object.keys(e).length === 0)) {
      delete next.metadata.managedFields;
      return;
    }
    managers = decodeOr(requested, () => decodeOr(liveFields, () => new Map()));
  } else {
    managers = decodeOr(liveFields, () => new Map());
  }
  const c = changes(def, writer, live ?? {}, next);
  const changed = c.modified.union(c.added);
  const id = identityOf({ ...writer, operation: 'Update' });
  for (const [other, m] of managers) {
    if (other !== id) managers.set(other, { ...m, fields: m.fields.difference(changed).difference(c.removed) });
  }
  const mine = managers.get(id);
  const fields = (mine?.fields ?? new FieldSet()).difference(c.removed).union(changed);
  managers.set(id, { ...writer, operation: 'Update', fields, time: mine && mine.fields.equals(fields) ? mine.time : metaTimeNow() });
  setManagedFields(next, managers);
}

/**
 * The common create (no managedFields sent): the general case with no live object and no other
 * manager comes down to one entry owning every field the object has, without the set algebra
 * (created-fields.ts writes it as FieldsV1 in one walk).
 */
function recordCreate(def: KindDefinition, next: KubeObject, writer: Writer): void {
  // The filter drops metadata.managedFields: no copy of the object without them is needed.
  const fieldsV1 = writer.subresource === ''
    ? createdFieldsV1(next, objectSchemaOf(def), def.subresources.status ? createdWithStatusSubresource : created)
    : tracked(def, writer.subresource, compare(undefined, content(next), objectSchemaOf(def)).added).toFieldsV1();
  if (Object.keys(fieldsV1).length === 0) {
    delete next.metadata.managedFields;
    return;
  }
  next.metadata.managedFields = [{
    manager: writer.manager, operation: 'Update', apiVersion: writer.apiVersion, time: metaTimeNow(), fieldsType: 'FieldsV1', fieldsV1,
    ...(writer.subresource ? { subresource: writer.subresource } : {}),
  }];
}

/**
 * Server-side apply: the live object (undefined: none yet) with `config` merged in and
 * managedFields updated. Throws a 409 naming every conflicting field and its manager unless
 * `force`, which takes those fields from their managers.
 */
export function applyConfig(def: KindDefinition, live: KubeObject | undefined, config: KubeObject, writer: Writer, force: boolean): KubeObject {
  const schema = objectSchemaOf(def);
  const managers = decodeOr(live?.metadata.managedFields, () => new Map());
  let merged: KubeObject;
  try {
    merged = merge(live ?? {}, config, schema) as KubeObject;
  } catch (e) {
    if (e instanceof MergeError) throw invalid(def.group, def.kind, config.metadata.name ?? '', [{ reason: 'FieldValueInvalid', field: e.field, message: e.message }]);
    throw e;
  }
  const applied = tracked(def, writer.subresource, fieldSetOf(config, schema));
  const id = identityOf({ ...writer, operation: 'Apply' });
  const previous = managers.get(id);
  managers.set(id, { ...writer, operation: 'Apply', fields: applied, time: previous && previous.fields.equals(applied) ? previous.time : metaTimeNow() });
  if (previous) {
    const owned = [...managers.values()].reduce((all, m) => all.union(m.fields), new FieldSet());
    pruneFields(merged, schema, previous.fields, owned);
  }
  const c = changes(def, writer, live ?? {}, merged);
  const changed = c.modified.union(c.added);
  // kubectl moving from client-side apply takes what its last-applied annotation names.
  const allowed = writer.manager === kubectlManager ? lastAppliedFields(def, live) : undefined;
  const conflicts: Array<{ manager: Manager; fields: FieldSet }> = [];
  for (const [other, m] of managers) {
    if (other === id) continue;
    const fields = m.fields.intersection(changed);
    const refused = allowed ? fields.difference(allowed) : fields;
    if (!refused.empty) conflicts.push({ manager: m, fields: refused });
  }
  if (conflicts.length && !force) throw conflictError(conflicts);
  for (const [other, m] of managers) {
    if (other !== id) managers.set(other, { ...m, fields: m.fields.difference(changed).difference(c.removed) });
  }
  setManagedFields(merged, managers);
  if (writer.manager === kubectlManager) syncLastApplied(live, merged, config);
  return merged;
}

function setManagedFields(obj: KubeObject, managers: Managers): void {
  const entries = encodeManagedFields(managers);
  if (entries.length) obj.metadata.managedFields = entries;
  else delete obj.metadata.managedFields;
}

/** kube-apiserver's apply conflict: 409 with a cause per field, naming its manager. */
function conflictError(conflicts: Array<{ manager: Manager; fields: FieldSet }>): ApiError {
  const sorted = [...conflicts].sort((a, b) => (identityOf(a.manager) < identityOf(b.manager) ? -1 : 1));
  const all = sorted.flatMap(({ manager, fields }) => [...fields.paths()].map((p) => ({ who: managerText(manager), field: pathText(p) })));
  const message = all.length === 1
    ? `Apply failed with 1 conflict: conflict with ${all[0]!.who}: ${all[0]!.field}`
    : `Apply failed with ${all.length} conflicts: ${sorted.map(({ manager, fields }) => [`conflicts with ${managerText(manager)}:`, ...[...fields.paths()].map((p) => `- ${pathText(p)}`)].join('\n')).join('\n')}`;
  return new ApiError(409, 'Conflict', message, {
    causes: all.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with ${c.who}`, field: c.field })),
  });
}

function managerText(m: Manager): string {
  let s = JSON.stringify(m.manager);
  if (m.subresource) s += ` with subresource ${JSON.stringify(m.subresource)}`;
  return m.operation === 'Update' ? `${s} using ${m.apiVersion}` : s;
}

/** managedFields stored by the server are valid; a client's may not be, and then do not count. */
function decodeOr(value: unknown, fallback: () => Managers): Managers {
  try {
    return decodeManagedFields(value);
  } catch {
    return fallback();
  }
}

const isSameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
