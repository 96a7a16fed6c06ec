import fastJsonPatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { ApiError, unsupportedMediaType } from './status.js';

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

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return structuredClone(patch);
  const base = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete base[k];
    else base[k] = mergePatch(base[k], v);
  }
  return base;
}

/**
 * Strategic merge patch, approximated as a merge patch with its `$` directives removed: lists
 * are replaced rather than merged by key. Enough for what kubectl sends for the kinds we serve.
 */
function stripDirectives(patch: unknown): unknown {
  if (Array.isArray(patch)) return patch.map(stripDirectives);
  if (patch === null || typeof patch !== 'object') return patch;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (k.startsWith('$')) continue;
    out[k] = stripDirectives(v);
  }
  return out;
}

export function applyPatch(type: PatchType, target: unknown, patch: unknown): unknown {
  if (type === 'json') {
    if (!Array.isArray(patch)) throw new ApiError(400, 'BadRequest', 'a JSON patch must be an array of operations');
    const error = fastJsonPatch.validate(patch as Operation[], target);
    if (error) throw new ApiError(422, 'Invalid', `the JSON patch is invalid: ${error.message.split('\n')[0]} (operation ${error.index})`);
    try {
      return fastJsonPatch.applyPatch(structuredClone(target), patch as Operation[], false, true).newDocument;
    } catch (e) {
      throw new ApiError(422, 'Invalid', `the JSON patch could not be applied: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) {
    throw new ApiError(400, 'BadRequest', 'a merge patch must be a JSON object');
  }
  return mergePatch(target, type === 'strategic' ? stripDirectives(patch) : patch);
}
