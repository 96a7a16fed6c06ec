import { badRequest, invalid, qualified, type StatusCause } from '../api/status.js';
import type { PatchType } from '../api/patch.js';
import { findDataProblem, shortField, showValue } from '../api/plain-data.js';
import { isPlainObject, ownValue } from '../api/own-properties.js';
import type { KubeObject } from '../store/resource-store.js';
import { apiVersionOf, type KindDefinition } from './kind.js';
import { validateObjectMeta } from './object-meta.js';
import { findUnknownFields, pruneUnknownFields, type SchemaValidator } from './schema-validator.js';
import type { FieldValidation } from './resource-types.js';

// The checks of a body before it is written: its shape, the kind's schema, its resourceVersion.

/** `fresh`: the body is plain data just parsed from a request, held by nobody else (WriteOptions.freshBody). */
export function decodeObject(def: KindDefinition, body: unknown, namespace: string, fresh = false): KubeObject {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest(`the body must be a JSON object describing a ${def.kind}`);
  // Before anything clones, compares or stores it (a patch can deepen what the body held).
  const problem = fresh ? undefined : findDataProblem(body);
  if (problem) throw invalid(def.group, def.kind, showValue(ownValue(ownValue(body, 'metadata'), 'name') ?? ''), [{ reason: 'FieldValueInvalid', field: shortField(problem.field) || '<root>', message: `Invalid value: ${problem.message}` }]);
  const obj = (fresh ? body : structuredClone(body)) as KubeObject;
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

export function checkUnknownFields(def: KindDefinition, obj: KubeObject, mode: FieldValidation = 'Strict'): string[] {
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
export function checkShape(def: KindDefinition, obj: KubeObject): void {
  const causes = [...validateObjectMeta(obj, def), ...topLevelShapeErrors(def, obj)];
  if (causes.length) throw invalid(def.group, def.kind, typeof obj.metadata.name === 'string' ? obj.metadata.name : '', causes);
}

/** The schema first; a kind's own checks (`strategy`) run on what the schema let through. */
export function validateObject(validator: SchemaValidator, def: KindDefinition, obj: KubeObject, strategy: () => StatusCause[]): void {
  const causes = [...validateObjectMeta(obj, def), ...validator.validate(def.schema, obj)];
  if (!causes.length) causes.push(...strategy());
  if (causes.length) throw invalid(def.group, def.kind, obj.metadata.name ?? '', causes);
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

export function specChanged(def: KindDefinition, next: KubeObject, old: KubeObject): boolean {
  const strip = (o: KubeObject) => {
    const { metadata: _m, status, ...rest } = o;
    return JSON.stringify(def.subresources.status ? rest : { ...rest, status });
  };
  return strip(next) !== strip(old);
}

export function hasPinnedVersion(patch: unknown, type: PatchType): boolean {
  if (type === 'json') return Array.isArray(patch) && patch.some((op) => typeof op?.path === 'string' && op.path === '/metadata/resourceVersion');
  const rv = (patch as { metadata?: { resourceVersion?: unknown } } | null)?.metadata?.resourceVersion;
  return typeof rv === 'string' && rv !== '';
}

/** A resourceVersion in a body must be one the server handed out (a string of digits) or empty. */
export function checkResourceVersion(rv: unknown): void {
  if (rv === undefined || rv === null || rv === '') return;
  if (typeof rv !== 'string') throw badRequest(`metadata.resourceVersion must be a string, got ${JSON.stringify(rv)}`);
  parseResourceVersion(rv);
}

export function parseResourceVersion(text: string): number {
  if (!/^\d+$/.test(text)) throw badRequest(`invalid resource version "${text}": resource versions are opaque strings obtained from a list or a get`);
  return Number(text);
}
