import type { JSONSchema } from '../registry/kind.js';
import type { FieldPath, FieldsV1, PathElement } from './field-set.js';
import { entryOf, itemElements, maxTrackedDepth, shapeOf, type Shape } from './schema-shape.js';

// The fields a create owns, written straight as FieldsV1. The general path — compare() against
// nothing, the FieldSet trie, tracked()'s filter, toFieldsV1()'s sort at every level — builds
// the same answer through three intermediate structures; a create (most writes) needs none of
// them. field-ownership.test.ts checks both give the same FieldsV1 for every shape of value.

/** What nobody owns, as a trie of path elements: members that are not owned (their parts are), subtrees that are not at all. */
export type OwnershipFilter = ReadonlyMap<PathElement, { untracked: boolean; dropped: boolean; below: OwnershipFilter }>;

/** The filter of FieldSet.without(untracked, dropped). */
export function ownershipFilter(untracked: readonly FieldPath[], dropped: readonly FieldPath[]): OwnershipFilter {
  type Node = { untracked: boolean; dropped: boolean; below: Map<PathElement, Node> };
  const root = new Map<PathElement, Node>();
  const at = (path: FieldPath): Node | undefined => {
    let level = root;
    let node: Node | undefined;
    for (const pe of path) {
      node = level.get(pe);
      if (!node) level.set(pe, (node = { untracked: false, dropped: false, below: new Map() }));
      level = node.below;
    }
    return node;
  };
  for (const p of untracked) if (p.length) at(p)!.untracked = true;
  for (const p of dropped) if (p.length) at(p)!.dropped = true;
  return root;
}

/**
 * What `compare(undefined, object, schema).added.without(untracked, dropped).toFieldsV1()`
 * gives: every field of `object` (a granular map or list is a member with its parts below it,
 * `".": {}` first; an atomic one or a scalar is a leaf, `{}`), parts sorted as FieldsV1 sorts
 * them, less what `filter` says nobody owns. `object` is the root, never a member itself.
 */
export function createdFieldsV1(object: Record<string, unknown>, schema: JSONSchema, filter: OwnershipFilter): FieldsV1 {
  const out: FieldsV1 = {};
  const shape = shapeOf(schema, object);
  if (isGranular(shape, 0)) addParts(out, object, shape, 0, filter);
  return out;
}

function isGranular(shape: Shape, depth: number): boolean {
  if (depth >= maxTrackedDepth) return false;
  return shape.type === 'map' ? !shape.atomic : shape.type === 'list' && shape.listType !== 'atomic';
}

/** A part at `depth`: `{}` a leaf, `{".": {}, ...parts}` a granular value; undefined: not owned. */
function partOf(value: unknown, schema: JSONSchema | undefined, depth: number, filter: OwnershipFilter | undefined, pe: PathElement): FieldsV1 | undefined {
  const f = filter?.get(pe);
  if (f?.dropped) return undefined;
  const shape = shapeOf(schema, value);
  if (!isGranular(shape, depth)) return f?.untracked ? undefined : {};
  const out: FieldsV1 = f?.untracked ? {} : { '.': {} };
  if (addParts(out, value, shape, depth, f?.below) > 0) return out;
  // A list that cannot be named item by item (addParts: -1) is one value, as is an atomic one.
  return f?.untracked ? undefined : {};
}

/** Adds the parts of a granular value to `out`; how many, or -1 for a list whose items cannot all be named (a leaf then). */
function addParts(out: FieldsV1, value: unknown, shape: Shape, depth: number, filter: OwnershipFilter | undefined): number {
  let n = 0;
  if (shape.type === 'map') {
    const map = value as Record<string, unknown>;
    for (const k of Object.keys(map).sort()) {
      const v = map[k];
      if (v === undefined) continue;
      const pe = `f:${k}`;
      const part = partOf(v, entryOf(shape, k).schema, depth + 1, filter, pe);
      if (part) {
        out[pe] = part;
        n++;
      }
    }
    return n;
  }
  if (shape.type !== 'list') return 0;
  const list = value as unknown[];
  const named = itemElements(shape, list);
  if (!named) return -1;
  const items = new Map<PathElement, unknown>();
  named.pes.forEach((pe, i) => items.set(pe, list[i]));
  for (const pe of [...items.keys()].sort()) {
    // An item named twice is owned as one value.
    const part = named.duplicates.has(pe) ? duplicatePart(filter, pe) : partOf(items.get(pe), shape.items, depth + 1, filter, pe);
    if (part) {
      out[pe] = part;
      n++;
    }
  }
  return n;
}

function duplicatePart(filter: OwnershipFilter | undefined, pe: PathElement): FieldsV1 | undefined {
  const f = filter?.get(pe);
  return f && (f.untracked || f.dropped) ? undefined : {};
}
