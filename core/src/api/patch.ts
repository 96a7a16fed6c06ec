import fastJsonPatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { ApiError, unsupportedMediaType } from './status.js';
import { showValue } from './plain-data.js';
import { isPlainObject, setOwn, withoutPrototypes } from './own-properties.js';

export type PatchType = 'merge' | 'json' | 'strategic';

export function patchTypeOf(contentType: string | undefined): PatchType {
  const ct = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  switch (ct) {
    case 'application/merge-patch+json': return 'merge';
    case 'application/json-patch+json': return 'json';
    case 'application/strategic-merge-patch+json': return 'strategic';
    default:
      throw unsupportedMediaType(`the body of a PATCH must be application/merge-patch+json, application/json-patch+json, application/strategic-merge-patch+json or application/apply-patch+yaml, not "${ct || 'none'}"`);
  }
}

/**
 * RFC 7386 JSON merge patch. Keys are the client's: only own properties are read, and every
 * key (`__proto__` too) is written as an own property, never through a setter. An undefined
 * value (possible only from in-process callers) leaves the key as it is.
 */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return structuredClone(patch);
  const base: Record<string, unknown> = {};
  if (isPlainObject(target)) for (const [k, v] of Object.entries(target)) setOwn(base, k, v);
  for (const [k, v] of Object.entries(patch)) {
    // JSON cannot say undefined: a key the core's own controllers leave undefined is not in the patch.
    if (v === undefined) continue;
    if (v === null) delete base[k];
    else setOwn(base, k, mergePatch(Object.hasOwn(base, k) ? base[k] : undefined, v));
  }
  return base;
}

/**
 * Strategic merge patch, approximated as a merge patch with its `$` directives removed: lists
 * are replaced rather than merged by key. Enough for what kubectl sends for the kinds we serve.
 */
function stripDirectives(patch: unknown): unknown {
  if (Array.isArray(patch)) return patch.map(stripDirectives);
  if (!isPlainObject(patch)) return patch;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$')) continue;
    setOwn(out, k, stripDirectives(v));
  }
  return out;
}

const jsonPatchOps = new Set(['add', 'remove', 'replace', 'move', 'copy', 'test']);

export function applyPatch(type: PatchType, target: unknown, patch: unknown): unknown {
  if (type === 'json') {
    if (!Array.isArray(patch)) throw new ApiError(400, 'BadRequest', 'a JSON patch must be an array of operations');
    patch.forEach((op: unknown, i) => {
      const name = isPlainObject(op) && Object.hasOwn(op, 'op') ? op.op : undefined;
      if (typeof name !== 'string' || !jsonPatchOps.has(name)) {
        throw new ApiError(422, 'Invalid', `the JSON patch is invalid: operation ${i} must have an "op" of ${[...jsonPatchOps].join(', ')}`);
      }
    });
    // Pointers resolve through own properties only: the document has no prototypes in which
    // to find `constructor` or `toString`, and `from` is checked the same way. Anything the
    // library throws (a path through `__proto__`, a move into its own child) is the patch's fault.
    let doc = withoutPrototypes(target);
    patch.forEach((op: Operation & { from?: unknown }, i) => {
      if ((op.op === 'move' || op.op === 'copy') && (typeof op.from !== 'string' || !hasPointer(doc, op.from))) {
        throw new ApiError(422, 'Invalid', `the JSON patch could not be applied: operation ${i}: "from" ${showValue(op.from)} does not exist`);
      }
      try {
        doc = fastJsonPatch.applyOperation(doc, op, true, true, true, i).newDocument;
      } catch (e) {
        throw new ApiError(422, 'Invalid', `the JSON patch could not be applied: operation ${i}: ${(e as Error).message.split('\n')[0]}`);
      }
    });
    // The JSON round trip gives the result ordinary objects again.
    return JSON.parse(JSON.stringify(doc) ?? 'null') as unknown;
  }
  if (!isPlainObject(patch)) {
    throw new ApiError(400, 'BadRequest', 'a merge patch must be a JSON object');
  }
  return mergePatch(target, type === 'strategic' ? stripDirectives(patch) : patch);
}

/** Whether a JSON pointer names something in `doc` (own properties and array indexes only). */
function hasPointer(doc: unknown, pointer: string): boolean {
  if (pointer === '') return true;
  if (!pointer.startsWith('/')) return false;
  let cur = doc;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur)) {
      if (!/^(0|[1-9]\d*)$/.test(key) || Number(key) >= cur.length) return false;
      cur = cur[Number(key)];
    } else if (isPlainObject(cur) && Object.hasOwn(cur, key)) {
      cur = cur[key];
    } else {
      return false;
    }
  }
  return true;
}
