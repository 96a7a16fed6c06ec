import { badRequest, invalid, type StatusCause } from '../api/status.js';

// The query parameters of a write that concern field ownership, read and checked as
// kube-apiserver reads them (ValidatePatchOptions, ValidateFieldManager).

export const applyPatchContentType = 'application/apply-patch+yaml';

export function isApplyPatch(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase() === applyPatchContentType;
}

type OptionsKind = 'CreateOptions' | 'UpdateOptions' | 'PatchOptions';

/**
 * The field manager of a write: the `fieldManager` parameter, or (not for an apply, where it
 * is required) the user agent up to its first `/`, as kube-apiserver defaults it.
 */
export function fieldManagerOf(q: URLSearchParams, userAgent: string, kind: OptionsKind, apply: boolean): string {
  const given = q.get('fieldManager');
  const causes: StatusCause[] = [];
  if (apply && !given) causes.push({ reason: 'FieldValueRequired', field: 'fieldManager', message: 'Required value: is required for apply patch' });
  if (given && given.length > 128) causes.push({ reason: 'FieldValueTooLong', field: 'fieldManager', message: 'Too long: may not be more than 128 bytes' });
  if (given && !printable(given)) causes.push({ reason: 'FieldValueInvalid', field: 'fieldManager', message: `Invalid value: ${JSON.stringify(given)}: must only contain printable characters` });
  if (kind === 'PatchOptions' && !apply && q.has('force')) causes.push({ reason: 'FieldValueForbidden', field: 'force', message: 'Forbidden: may not be specified for non-apply patch' });
  if (causes.length) throw invalid('meta.k8s.io', kind, '', causes);
  if (given) return given;
  return [...userAgent.split('/')[0]!].filter(printableChar).join('').slice(0, 128);
}

/** `force=true` (or any form Go's ParseBool reads): take conflicting fields from their managers. */
export function forceOf(q: URLSearchParams): boolean {
  const v = q.get('force');
  if (v === null || v === '') return false;
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  throw badRequest(`force must be true or false, got ${JSON.stringify(v)}`);
}

const printableChar = (c: string) => !/[\p{C}\p{Z}]/u.test(c) || c === ' ';
const printable = (s: string) => [...s].every(printableChar);
