import { isPlainObject } from '../api/own-properties.js';
import type { JSONSchema, KindDefinition } from '../registry/kind.js';
import { keyElement, valueElement, type PathElement } from './field-set.js';

// How a value merges and is owned, read from the kind's OpenAPI schema as kube-apiserver reads
// it: lists are atomic unless `x-kubernetes-list-type` says `set` or `map` (keyed by
// `x-kubernetes-list-map-keys`); maps are granular unless `x-kubernetes-map-type: atomic`.
// Where the schema says nothing (preserve-unknown-fields, no schema at all) the shape is
// deduced from the value, as structured-merge-diff's "deduced" type: objects granular,
// lists atomic.

export type Shape =
  | { type: 'scalar' }
  | { type: 'map'; atomic: boolean; schema?: JSONSchema }
  | { type: 'list'; listType: 'atomic' | 'set' | 'map'; keys: string[]; items?: JSONSchema };

const scalar: Shape = { type: 'scalar' };

/**
 * Paths deeper than this are owned as one value. managedFields nest a level per path element
 * inside `metadata.managedFields[i].fieldsV1`, and must stay within the API's nesting limit
 * (100, plain-data.ts) so that an object read back can be written back.
 */
export const maxTrackedDepth = 90;

export function shapeOf(schema: JSONSchema | undefined, value: unknown): Shape {
  if (value === null || value === undefined) return scalar;
  if (!schema || schema['x-kubernetes-int-or-string'] === true) return deduced(value, schema);
  if (Array.isArray(value)) {
    if (schema.type !== 'array' && schema.items === undefined) return deduced(value, schema);
    const listType = schema['x-kubernetes-list-type'];
    const keys = Array.isArray(schema['x-kubernetes-list-map-keys']) ? (schema['x-kubernetes-list-map-keys'] as unknown[]).filter((k): k is string => typeof k === 'string') : [];
    return {
      type: 'list',
      listType: listType === 'set' ? 'set' : listType === 'map' && keys.length ? 'map' : 'atomic',
      keys,
      items: isPlainObject(schema.items) ? schema.items : undefined,
    };
  }
  if (isPlainObject(value)) return { type: 'map', atomic: schema['x-kubernetes-map-type'] === 'atomic', schema };
  return scalar;
}

function deduced(value: unknown, schema: JSONSchema | undefined): Shape {
  if (Array.isArray(value)) return { type: 'list', listType: 'atomic', keys: [] };
  if (isPlainObject(value)) return { type: 'map', atomic: schema?.['x-kubernetes-map-type'] === 'atomic' };
  return scalar;
}

/** The schema of a map's entry, and whether it is a declared field (not a key of a free map). */
export function entryOf(shape: Shape & { type: 'map' }, key: string): { schema?: JSONSchema; declared: boolean } {
  const s = shape.schema;
  if (!s) return { declared: false };
  const props = s.properties;
  if (isPlainObject(props) && Object.hasOwn(props, key) && isPlainObject(props[key])) return { schema: props[key], declared: true };
  const additional = s.additionalProperties;
  if (isPlainObject(additional)) return { schema: additional, declared: false };
  return { declared: false };
}

/**
 * The path element naming an item of an associative list: `k:{...}` for a map list (the key
 * fields present on the item), `v:<json>` for a set. Undefined for an item that cannot be
 * named (a map-list item that is not an object): the list is then handled as atomic.
 */
export function itemElement(shape: Shape & { type: 'list' }, item: unknown): PathElement | undefined {
  if (shape.listType === 'set') return valueElement(item);
  if (shape.listType !== 'map' || !isPlainObject(item)) return undefined;
  const keys = shape.keys.filter((k) => Object.hasOwn(item, k)).map((k): [string, unknown] => [k, item[k]]);
  return keys.length ? keyElement(keys) : undefined;
}

/**
 * Path elements for every item of an associative list, or undefined when one cannot be named
 * (then the whole list is one value). Items named twice are reported in `duplicates`.
 */
export function itemElements(shape: Shape & { type: 'list' }, list: unknown[]): { pes: PathElement[]; duplicates: Set<PathElement> } | undefined {
  const pes: PathElement[] = [];
  const seen = new Set<PathElement>();
  const duplicates = new Set<PathElement>();
  for (const item of list) {
    const pe = itemElement(shape, item);
    if (pe === undefined) return undefined;
    if (seen.has(pe)) duplicates.add(pe);
    seen.add(pe);
    pes.push(pe);
  }
  return { pes, duplicates };
}

/** ObjectMeta as Kubernetes types it for server-side apply (our kinds' schemas leave it open). */
const objectMeta: JSONSchema = {
  type: 'object',
  properties: {
    ...Object.fromEntries(['name', 'generateName', 'namespace', 'uid', 'resourceVersion', 'creationTimestamp', 'deletionTimestamp', 'selfLink'].map((k) => [k, { type: 'string' }])),
    generation: { type: 'integer' },
    deletionGracePeriodSeconds: { type: 'integer' },
    labels: { type: 'object', additionalProperties: { type: 'string' } },
    annotations: { type: 'object', additionalProperties: { type: 'string' } },
    finalizers: { type: 'array', items: { type: 'string' }, 'x-kubernetes-list-type': 'set' },
    ownerReferences: {
      type: 'array',
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['uid'],
      items: {
        type: 'object',
        properties: {
          apiVersion: { type: 'string' }, kind: { type: 'string' }, name: { type: 'string' }, uid: { type: 'string' },
          controller: { type: 'boolean' }, blockOwnerDeletion: { type: 'boolean' },
        },
      },
    },
    managedFields: { type: 'array', 'x-kubernetes-list-type': 'atomic', items: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
  },
};

const rootSchemas = new WeakMap<JSONSchema, JSONSchema>();

/** The kind's schema with ObjectMeta typed, cached per schema object. */
export function objectSchemaOf(def: KindDefinition): JSONSchema {
  let root = rootSchemas.get(def.schema);
  if (!root) {
    const props = isPlainObject(def.schema.properties) ? def.schema.properties : {};
    root = { ...def.schema, type: 'object', properties: { ...props, apiVersion: { type: 'string' }, kind: { type: 'string' }, metadata: objectMeta } };
    rootSchemas.set(def.schema, root);
  }
  return root;
}
