import { isDeepStrictEqual } from 'node:util';
import type { JSONSchema } from '../registry/kind.js';
import { FieldSet, fieldElement, type PathElement } from './field-set.js';
import { entryOf, itemElements, maxTrackedDepth, shapeOf, type Shape } from './schema-shape.js';

/** What changed between two versions of an object, field by field (structured-merge-diff's Compare). */
export interface Comparison {
  added: FieldSet;
  removed: FieldSet;
  modified: FieldSet;
}

export function compare(before: unknown, after: unknown, schema: JSONSchema | undefined): Comparison {
  const c: Comparison = { added: new FieldSet(), removed: new FieldSet(), modified: new FieldSet() };
  walk(before, after, schema, [], c);
  return c;
}

function walk(l: unknown, r: unknown, schema: JSONSchema | undefined, path: PathElement[], c: Comparison): void {
  if (l === undefined && r === undefined) return;
  const ls = l === undefined ? undefined : shapeOf(schema, l);
  const rs = r === undefined ? undefined : shapeOf(schema, r);
  const shape = (rs ?? ls)!;
  if ((ls && rs && !sameShape(ls, rs)) || path.length >= maxTrackedDepth || !descend(shape, l, r, schema, path, c)) {
    // A leaf: a scalar, or an atomic list or map compared as one value.
    if (l === undefined) c.added.insert(path);
    else if (r === undefined) c.removed.insert(path);
    else if (!isDeepStrictEqual(l, r)) c.modified.insert(path);
    return;
  }
  if (path.length === 0) return;
  if (l === undefined) c.added.insert(path);
  else if (r === undefined) c.removed.insert(path);
}

/** Compares the parts of a granular map or list; false when the value is a leaf. */
function descend(shape: Shape, l: unknown, r: unknown, schema: JSONSchema | undefined, path: PathElement[], c: Comparison): boolean {
  if (shape.type === 'map') {
    if (shape.atomic) return false;
    const lm = (l ?? {}) as Record<string, unknown>;
    const rm = (r ?? {}) as Record<string, unknown>;
    const keys = new Set([...Object.keys(lm), ...Object.keys(rm)]);
    for (const k of keys) {
      const lv = Object.hasOwn(lm, k) ? lm[k] : undefined;
      const rv = Object.hasOwn(rm, k) ? rm[k] : undefined;
      walk(lv, rv, entryOf(shape, k).schema, [...path, fieldElement(k)], c);
    }
    return true;
  }
  if (shape.type !== 'list' || shape.listType === 'atomic') return false;
  const ll = (l ?? []) as unknown[];
  const rl = (r ?? []) as unknown[];
  const ln = itemElements(shape, ll);
  const rn = itemElements(shape, rl);
  if (!ln || !rn) return false;
  const byPe = (list: unknown[], pes: PathElement[]) => {
    const m = new Map<PathElement, unknown[]>();
    pes.forEach((pe, i) => m.set(pe, [...(m.get(pe) ?? []), list[i]]));
    return m;
  };
  const lItems = byPe(ll, ln.pes);
  const rItems = byPe(rl, rn.pes);
  for (const pe of new Set([...ln.pes, ...rn.pes])) {
    const li = lItems.get(pe) ?? [];
    const ri = rItems.get(pe) ?? [];
    const here = [...path, pe];
    if (li.length <= 1 && ri.length <= 1) {
      walk(li[0], ri[0], shape.items, here, c);
    } else if (li.length >= 2 && ri.length >= 2) {
      if (!isDeepStrictEqual(li, ri)) c.modified.insert(here);
    } else if (li.length >= 2) {
      if (ri.length) walk(undefined, ri[0], shape.items, here, c);
      c.removed.insert(here);
    } else {
      if (li.length) walk(li[0], undefined, shape.items, here, c);
      c.added.insert(here);
    }
  }
  return true;
}

function sameShape(a: Shape, b: Shape): boolean {
  return a.type === b.type && (a.type !== 'list' || a.listType === (b as Shape & { type: 'list' }).listType);
}
