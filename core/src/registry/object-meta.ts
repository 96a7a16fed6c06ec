import type { StatusCause } from '../api/status.js';
import type { KubeObject } from '../store/resource-store.js';
import type { KindDefinition } from './kind.js';
import { validateDns1123Label, validateDns1123Subdomain, validateLabelValue, validateQualifiedName } from './names.js';

const maxAnnotationsBytes = 256 * 1024;
const metadataFields = new Set([
  'name', 'generateName', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp',
  'deletionTimestamp', 'deletionGracePeriodSeconds', 'labels', 'annotations', 'finalizers', 'ownerReferences',
  'managedFields', 'selfLink',
]);

/** The generic ObjectMeta rules every kind shares. */
export function validateObjectMeta(obj: KubeObject, def: KindDefinition): StatusCause[] {
  const causes: StatusCause[] = [];
  const m = obj.metadata;
  if (m === null || typeof m !== 'object' || Array.isArray(m)) {
    return [{ reason: 'FieldValueRequired', field: 'metadata', message: 'Required value: metadata must be an object' }];
  }
  for (const key of Object.keys(m)) {
    if (!metadataFields.has(key)) causes.push({ reason: 'FieldValueInvalid', field: `metadata.${key}`, message: 'unknown field' });
  }
  if (typeof m.name !== 'string' || m.name === '') {
    causes.push({ reason: 'FieldValueRequired', field: 'metadata.name', message: 'Required value: name or generateName is required' });
  } else {
    const errs = def.nameFormat === 'label' ? validateDns1123Label(m.name) : validateDns1123Subdomain(m.name);
    for (const e of errs) causes.push({ reason: 'FieldValueInvalid', field: 'metadata.name', message: `Invalid value: "${m.name}": ${e}` });
  }
  causes.push(...validateStringMap(m.labels, 'metadata.labels', true));
  causes.push(...validateStringMap(m.annotations, 'metadata.annotations', false));
  if (m.annotations && JSON.stringify(m.annotations).length > maxAnnotationsBytes) {
    causes.push({ reason: 'FieldValueTooLong', field: 'metadata.annotations', message: `Too long: must have at most ${maxAnnotationsBytes} bytes` });
  }
  if (m.finalizers !== undefined) {
    if (!Array.isArray(m.finalizers)) causes.push({ reason: 'FieldValueInvalid', field: 'metadata.finalizers', message: 'Invalid value: must be a list of strings' });
    else m.finalizers.forEach((f, i) => {
      if (typeof f !== 'string') causes.push({ reason: 'FieldValueInvalid', field: `metadata.finalizers[${i}]`, message: 'Invalid value: must be a string' });
      else for (const e of validateQualifiedName(f)) causes.push({ reason: 'FieldValueInvalid', field: `metadata.finalizers[${i}]`, message: `Invalid value: "${f}": ${e}` });
    });
  }
  if (m.ownerReferences !== undefined) {
    if (!Array.isArray(m.ownerReferences)) causes.push({ reason: 'FieldValueInvalid', field: 'metadata.ownerReferences', message: 'Invalid value: must be a list' });
    else m.ownerReferences.forEach((o, i) => {
      for (const f of ['apiVersion', 'kind', 'name', 'uid'] as const) {
        if (!o || typeof o[f] !== 'string' || o[f] === '') causes.push({ reason: 'FieldValueRequired', field: `metadata.ownerReferences[${i}].${f}`, message: 'Required value' });
      }
    });
  }
  return causes;
}

function validateStringMap(value: unknown, field: string, isLabels: boolean): StatusCause[] {
  if (value === undefined) return [];
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return [{ reason: 'FieldValueInvalid', field, message: 'Invalid value: must be a map of strings' }];
  }
  const causes: StatusCause[] = [];
  for (const [k, v] of Object.entries(value)) {
    for (const e of validateQualifiedName(k)) causes.push({ reason: 'FieldValueInvalid', field, message: `Invalid value: "${k}": ${e}` });
    if (typeof v !== 'string') causes.push({ reason: 'FieldValueInvalid', field: `${field}.${k}`, message: 'Invalid value: must be a string' });
    else if (isLabels) for (const e of validateLabelValue(v)) causes.push({ reason: 'FieldValueInvalid', field, message: `Invalid value: "${v}": ${e}` });
  }
  return causes;
}
