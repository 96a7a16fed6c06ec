import { isPlainObject } from '../api/own-properties.js';
import type { JSONSchema } from '../registry/kind.js';
import { FieldSet, fieldElement, type PathElement } from './field-set.js';
import { entryOf, itemElements, maxTrackedDepth, shapeOf } from './schema-shape.js';

/**
 * The fields a value sets, as structured-merge-diff's ToFieldSet: every scalar and atomic
 * value, every item of an associative list, every key of a free-form map, and every map
 * that is null or empty (so that setting `{}` is owned too).
 */
export function fieldSetOf(value: unknown, schema: JSONSchema | undefined): FieldSet {
  const set = new FieldSet();
  walk(value, schema, [], set);
  return set;
}

function walk(value: unknown, schema: JSONSchema | undefined, path: PathElement[], set: FieldSet): void {
  const shape = shapeOf(schema, value);
  if (shape.type === 'scalar' || path.length >= maxTrackedDepth) {
    set.insert(path);
    return;
  }
  if (shape.type === 'list') {
    const list = value as unknown[];
    const named = shape.listType === 'atomic' ? undefined : itemElements(shape, list);
    if (!named) {
      set.insert(path);
      return;
    }
    list.forEach((item, i) => {
      const here = [...path, named.pes[i]!];
      if (!named.duplicates.has(named.pes[i]!)) walk(item, shape.items, here, set);
      set.insert(here);
    });
    return;
  }
  if (shape.atomic) {
    set.insert(path);
    return;
  }
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (v === undefined) continue;
    const entry = entryOf(shape, key);
    const here = [...path, fieldElement(key)];
    walk(v, entry.schema, here, set);
    if (v === null || (isPlainObject(v) && Object.keys(v).length === 0) || !entry.declared) set.insert(here);
  }
}
