import type { JSONSchema } from '../registry/kind.js';

// Reusable schema pieces shared by the core's kinds.

export const str = (description?: string): JSONSchema => ({ type: 'string', ...(description ? { description } : {}) });
export const bool = (description?: string): JSONSchema => ({ type: 'boolean', ...(description ? { description } : {}) });
export const int = (description?: string, minimum?: number): JSONSchema => ({ type: 'integer', ...(minimum !== undefined ? { minimum } : {}), ...(description ? { description } : {}) });
export const strings = (description?: string): JSONSchema => ({ type: 'array', items: { type: 'string' }, ...(description ? { description } : {}) });
export const stringMap = (description?: string): JSONSchema => ({ type: 'object', additionalProperties: { type: 'string' }, ...(description ? { description } : {}) });
export const freeform = (description?: string): JSONSchema => ({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true, ...(description ? { description } : {}) });
export const dateTime = (description?: string): JSONSchema => ({ type: 'string', format: 'date-time', ...(description ? { description } : {}) });
export const obj = (properties: Record<string, JSONSchema>, required?: string[], description?: string): JSONSchema => ({
  type: 'object', properties, ...(required?.length ? { required } : {}), ...(description ? { description } : {}),
});
export const list = (items: JSONSchema, description?: string): JSONSchema => ({ type: 'array', items, ...(description ? { description } : {}) });

/** A string, or a map of language tag → string (display names and descriptions). */
export const localized = (description?: string): JSONSchema => ({
  'x-kubernetes-preserve-unknown-fields': true,
  description: description ?? 'Text, or a map of language tag to text (e.g. {"en": "...", "zh": "..."})',
});

export const condition: JSONSchema = obj({
  type: str('The aspect the condition describes, e.g. Ready'),
  status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
  reason: str(),
  message: str(),
  lastTransitionTime: dateTime(),
  observedGeneration: int(),
}, ['type', 'status']);

export const conditions: JSONSchema = list(condition, 'Standard Kubernetes-style conditions');

export const policyRule: JSONSchema = obj({
  apiGroups: strings(),
  resources: strings(),
  verbs: strings(),
  resourceNames: strings(),
  nonResourceURLs: strings(),
}, ['verbs']);

export const roleRef: JSONSchema = obj({ apiGroup: str(), kind: str(), name: str() }, ['kind', 'name']);

export const subject: JSONSchema = obj({
  kind: { type: 'string', enum: ['User', 'Group', 'ServiceAccount'] },
  apiGroup: str(),
  name: str(),
  namespace: str(),
}, ['kind', 'name']);

export const aggregationRoleTemplates: JSONSchema = obj({
  templateNames: strings('RoleTemplates aggregated by name'),
  roleSelector: obj({ matchLabels: stringMap() }, undefined, 'RoleTemplates aggregated by label'),
}, undefined, 'Which RoleTemplates this role aggregates; their rules are unioned into the role');

/** The top-level frame of every object; `spec`/`status` and other fields are added per kind. */
export function objectSchema(fields: Record<string, JSONSchema>, required: string[] = [], description?: string): JSONSchema {
  return {
    type: 'object',
    ...(description ? { description } : {}),
    properties: { apiVersion: str(), kind: str(), metadata: { type: 'object' }, ...fields },
    ...(required.length ? { required } : {}),
  };
}
