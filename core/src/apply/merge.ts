import { isPlainObject, setOwn } from '../api/own-properties.js';
import type { JSONSchema } from '../registry/kind.js';
import { fieldElement, pathText, type PathElement } from './field-set.js';
import { entryOf, itemElements, shapeOf } from './schema-shape.js';

/** A configuration that cannot be merged (an associative list naming an item twice). */
export class MergeError extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
  }
}

/**
 * The live object with an applied configuration merged in (structured-merge-diff's Merge):
 * granular maps and associative lists merge entry by entry, everything else is replaced by
 * the configuration's value. A null in the configuration removes the field (as kube-apiserver
 * prunes nulls from custom resources). Neither input is changed.
 */
export function merge(live: unknown, config: unknown, schema: JSONSchema | undefined): unknown {
  return mergeAt(live, config, schema, []);
}

function mergeAt(l: unknown, r: unknown, schema: JSONSchema | undefined, path: PathElement[]): unknown {
  if (r === undefined) return l;
  const rs = shapeOf(schema, r);
  if (rs.type === 'list' && rs.listType !== 'atomic') checkUnique(r as unknown[], rs, path);
  if (l === undefined || l === null || r === null) return structuredClone(r);
  const ls = shapeOf(schema, l);
  if (rs.type === 'map' && ls.type === 'map' && !rs.atomic) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(l as Record<string, unknown>)) setOwn(out, k, v);
    for (const [k, v] of Object.entries(r as Record<string, unknown>)) {
      if (v === undefined) continue;
      if (v === null) delete out[k];
      else setOwn(out, k, mergeAt(Object.hasOwn(out, k) ? out[k] : undefined, v, entryOf(rs, k).schema, [...path, fieldElement(k)]));
    }
    return out;
  }
  if (rs.type === 'list' && ls.type === 'list' && rs.listType !== 'atomic') {
    const merged = mergeList(l as unknown[], r as unknown[], rs, path);
    if (merged) return merged;
  }
  return structuredClone(r);
}

/**
 * An associative list: the configuration's items in its order, merged with the live items of
 * the same key; live items the configuration does not name stay after the item they followed.
 */
function mergeList(l: unknown[], r: unknown[], shape: Parameters<typeof itemElements>[0], path: PathElement[]): unknown[] | undefined {
  const ln = itemElements(shape, l);
  const rn = itemElements(shape, r);
  if (!ln || !rn) return undefined;
  const inConfig = new Set(rn.pes);
  const liveByPe = new Map<PathElement, unknown>();
  ln.pes.forEach((pe, i) => {
    if (!ln.duplicates.has(pe)) liveByPe.set(pe, l[i]);
  });
  const leading: unknown[] = [];
  const following = new Map<PathElement, unknown[]>();
  let anchor: PathElement | undefined;
  ln.pes.forEach((pe, i) => {
    if (inConfig.has(pe)) anchor = pe;
    else if (anchor === undefined) leading.push(l[i]);
    else following.set(anchor, [...(following.get(anchor) ?? []), l[i]]);
  });
  const out = [...leading];
  rn.pes.forEach((pe, i) => {
    out.push(mergeAt(liveByPe.get(pe), r[i], shape.items, [...path, pe]));
    out.push(...(following.get(pe) ?? []));
  });
  return out;
}

function checkUnique(list: unknown[], shape: Parameters<typeof itemElements>[0], path: PathElement[]): void {
  const named = itemElements(shape, list);
  const dup = named && [...named.duplicates][0];
  if (dup) throw new MergeError(pathText(path).slice(1), `duplicate entries for key ${pathText([...path, dup])}`);
  if (!named && shape.listType === 'map') {
    const i = list.findIndex((item) => !isPlainObject(item) || !shape.keys.some((k) => Object.hasOwn(item, k)));
    throw new MergeError(pathText(path).slice(1), `element ${i} of ${pathText(path)} has none of the key fields ${shape.keys.join(', ')}`);
  }
}
