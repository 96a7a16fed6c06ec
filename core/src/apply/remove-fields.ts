import { isPlainObject } from '../api/own-properties.js';
import type { JSONSchema } from '../registry/kind.js';
import type { FieldPath, FieldSet } from './field-set.js';
import { entryOf, itemElement, shapeOf } from './schema-shape.js';

/**
 * Removes from `obj` (in place) the fields a manager applied last time and no longer applies,
 * unless some manager (the applier's new configuration included) owns them or anything below
 * them. A map left empty by that is removed too, when nobody owns it.
 */
export function pruneFields(obj: unknown, schema: JSONSchema, last: FieldSet, owned: FieldSet): void {
  for (const path of [...last.paths()]) {
    if (owned.hasAtOrUnder(path) || !removeAt(obj, path, schema)) continue;
    for (let n = path.length - 1; n > 0; n--) {
      const parent = path.slice(0, n);
      if (!parent[n - 1]!.startsWith('f:') || owned.hasAtOrUnder(parent)) break;
      const v = valueAt(obj, parent, schema);
      if (!isPlainObject(v) || Object.keys(v).length > 0) break;
      removeAt(obj, parent, schema);
    }
  }
}

/** Removes the value at `path`; true when something was there. */
function removeAt(value: unknown, path: FieldPath, schema: JSONSchema | undefined): boolean {
  const [pe, ...rest] = path;
  if (pe === undefined) return false;
  const shape = shapeOf(schema, value);
  if (shape.type === 'map' && pe.startsWith('f:')) {
    const map = value as Record<string, unknown>;
    const key = pe.slice(2);
    if (!Object.hasOwn(map, key) || map[key] === undefined) return false;
    if (rest.length === 0) {
      delete map[key];
      return true;
    }
    return removeAt(map[key], rest, entryOf(shape, key).schema);
  }
  if (shape.type !== 'list') return false;
  const list = value as unknown[];
  const at = matching(list, pe, shape);
  if (rest.length === 0) {
    for (const i of at.reverse()) list.splice(i, 1);
    return at.length > 0;
  }
  let removed = false;
  for (const i of at) removed = removeAt(list[i], rest, shape.items) || removed;
  return removed;
}

function valueAt(value: unknown, path: FieldPath, schema: JSONSchema | undefined): unknown {
  let cur = value;
  let s = schema;
  for (const pe of path) {
    const shape = shapeOf(s, cur);
    if (shape.type === 'map' && pe.startsWith('f:')) {
      const key = pe.slice(2);
      cur = Object.hasOwn(cur as object, key) ? (cur as Record<string, unknown>)[key] : undefined;
      s = entryOf(shape, key).schema;
    } else if (shape.type === 'list') {
      const i = matching(cur as unknown[], pe, shape)[0];
      cur = i === undefined ? undefined : (cur as unknown[])[i];
      s = shape.items;
    } else {
      return undefined;
    }
  }
  return cur;
}

function matching(list: unknown[], pe: string, shape: Parameters<typeof itemElement>[0]): number[] {
  if (pe.startsWith('i:')) {
    const i = Number(pe.slice(2));
    return i < list.length ? [i] : [];
  }
  const out: number[] = [];
  list.forEach((item, i) => {
    if (itemElement(shape, item) === pe) out.push(i);
  });
  return out;
}
