import type { KubeObject } from '../store/resource-store.js';
import type { StatusCause } from '../api/status.js';

/** An OpenAPI v3 / JSON Schema object as used by CRDs' `openAPIV3Schema`. */
export type JSONSchema = { [key: string]: unknown };

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description?: string;
  priority?: number;
}

/** Who is asking, for strategies that need it (e.g. recording the creator). */
export interface RequestContext {
  user?: { username: string; uid?: string; groups: string[] };
  /** Adds an annotation to the request's audit event (as Kubernetes admission plugins do). */
  annotate?(key: string, value: string): void;
}

/**
 * What a kind brings beyond its schema: defaulting, extra validation, what an update may
 * touch, how a stored object is shown. Like a Kubernetes registry strategy — the generic
 * REST logic is written once and asks the strategy at each step.
 */
export interface ResourceStrategy {
  /** Defaults and derived fields on create (e.g. hashing a password). */
  prepareForCreate?(obj: KubeObject, ctx: RequestContext): void | Promise<void>;
  /** Same on update; `old` is the stored object. */
  prepareForUpdate?(obj: KubeObject, old: KubeObject, ctx: RequestContext): void | Promise<void>;
  /** Checks the schema cannot express. */
  validate?(obj: KubeObject): StatusCause[];
  validateUpdate?(obj: KubeObject, old: KubeObject): StatusCause[];
  /** The object as clients see it (e.g. without secret fields). */
  toExternal?(obj: KubeObject): KubeObject;
}

export interface KindDefinition {
  group: string; // '' for the core group
  version: string;
  /** Every version the kind is served at; the first is the storage version. */
  servedVersions?: string[];
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  shortNames?: string[];
  categories?: string[];
  namespaced: boolean;
  /** The openAPIV3Schema of the whole object. */
  schema: JSONSchema;
  subresources: { status?: boolean };
  printerColumns?: PrinterColumn[];
  strategy?: ResourceStrategy;
  /** Name rule: DNS-1123 subdomain (default) or label (namespaces). */
  nameFormat?: 'subdomain' | 'label';
  /** Kinds defined by a CustomResourceDefinition, not built into the core. */
  source: 'builtin' | 'crd';
  /** Verbs served; default all. */
  verbs?: string[];
  /** The defining CRD is being deleted: existing objects are served, new ones refused. */
  terminating?: boolean;
}

export const apiVersionOf = (def: { group: string; version: string }) => (def.group ? `${def.group}/${def.version}` : def.version);
