import fastJsonPatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { ApiError, unsupportedMediaType } from './status.js';
import { isPlainObject, setOwn, withoutPrototypes } from './own-properties.js';

export type PatchType = 'merge' | 'json' | 'strategic';

export function patchTypeOf(contentType: string | undefined): PatchType {
  const ct = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  switch (ct) {
    case 'application/merge-patch+json': return 'merge';
    case 'application/json-patch+json': return 'json';
    case 'application/strategic-merge-patch+json': return 'strategic';
    case 'application/apply-patch+yaml':
      throw unsupportedMediaType('server-side apply is not supported; use client-side `kubectl apply` (the default) or a merge patch');
    default:
      throw unsupportedMediaType(`the body of a PATCH must be application/merge-patch+json, application/json-patch+json or application/strategic-merge-patch+json, not "${ct || 'none'}"`);
  }
}

/**
 * RFC 7386 JSON merge patch. Keys are the client's: only own properties are read, and every
 * key (`__proto__` too) is written as an own property, never through a setter.
 */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return structuredClone(patch);
  const base: Record<string, unknown> = {};
  if (isPlainObject(target)) for (const [k, v] of Object.entries(target)) setOwn(base, k, v);
  for (const [k, v] of Object.entries(patch)) {
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
    const error = (() => {
      try {
        return fastJsonPatch.validate(patch as Operation[], target);
      } catch (e) {
        return e as Error;
      }
    })();
    if (error) throw new ApiError(422, 'Invalid', `the JSON patch is invalid: ${error.message.split('\n')[0]}${'index' in error ? ` (operation ${String(error.index)})` : ''}`);
    try {
      // Pointers resolve through own properties only: the target has no prototypes to find
      // `constructor` or `toString` in. The JSON round trip gives the result ordinary objects.
      const doc = fastJsonPatch.applyPatch(withoutPrototypes(target), patch as Operation[], false, true).newDocument;
      return JSON.parse(JSON.stringify(doc)) as unknown;
    } catch (e) {
      throw new ApiError(422, 'Invalid', `the JSON patch could not be applied: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  if (!isPlainObject(patch)) {
    throw new ApiError(400, 'BadRequest', 'a merge patch must be a JSON object');
  }
  return mergePatch(target, type === 'strategic' ? stripDirectives(patch) : patch);
}
