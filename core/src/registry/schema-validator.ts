import { createHash } from 'node:crypto';
import { Ajv, type CodeOptions, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { precompiledValidators } from './precompiled-validators.js';
import type { StatusCause } from '../api/status.js';
import type { JSONSchema } from './kind.js';

// ajv-formats is CommonJS; its default export arrives wrapped under NodeNext.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => Ajv;

const kubernetesKeywords = [
  'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-int-or-string', 'x-kubernetes-embedded-resource',
  'x-kubernetes-list-type', 'x-kubernetes-list-map-keys', 'x-kubernetes-map-type', 'x-kubernetes-validations',
  'x-kubernetes-group-version-kind', 'example', 'externalDocs',
];

/**
 * One ajv instance for every kind: schemas are compiled once and cached by object. Schemas are
 * checked against the JSON Schema meta-schema only where they come from outside (`compile`, for
 * CRDs): compiling the meta-schema is most of the first compilation, which a start pays.
 */
export function createAjv(code?: CodeOptions): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: false, logger: false, validateFormats: true, validateSchema: false, code });
  addFormats(ajv);
  for (const f of ['int32', 'int64', 'float', 'double', 'byte', 'binary', 'password', 'quantity']) ajv.addFormat(f, true);
  for (const k of kubernetesKeywords) ajv.addKeyword(k);
  return ajv;
}

/**
 * The name of a schema's validator among the precompiled ones: a digest of what is compiled, so
 * a schema that differs from the one built in (a CRD, a changed kind) is compiled instead.
 */
export function precompiledName(schema: JSONSchema): string {
  return `v${createHash('sha256').update(JSON.stringify(withoutMetadata(schema))).digest('hex').slice(0, 32)}`;
}

export class SchemaValidator {
  private readonly compiled = new WeakMap<JSONSchema, ValidateFunction>();
  private readonly precompiled?: Readonly<Record<string, ValidateFunction>>;
  private readonly ajv: Ajv;
  /** With an ajv of its own, every schema is compiled by it; else the built-in kinds' come precompiled in the bundle. */
  constructor(ajv?: Ajv) {
    this.ajv = ajv ?? createAjv();
    if (!ajv && Object.keys(precompiledValidators).length > 0) this.precompiled = precompiledValidators;
  }

  /** Throws with a readable message when the schema itself is not valid JSON Schema. */
  compile(schema: JSONSchema): ValidateFunction {
    const fn = this.compiled.get(schema);
    if (fn) return fn;
    this.ajv.validateSchema(withoutMetadata(schema), true);
    return this.compiledOnce(schema);
  }

  /** A kind's schema was checked when the kind was defined (built in, or a CRD that `compile` accepted). */
  validate(schema: JSONSchema, value: unknown): StatusCause[] {
    const fn = this.compiledOnce(schema);
    if (fn(value)) return [];
    return (fn.errors ?? []).map(toCause);
  }

  private compiledOnce(schema: JSONSchema): ValidateFunction {
    let fn = this.compiled.get(schema);
    if (!fn) {
      fn = this.precompiled?.[precompiledName(schema)] ?? this.ajv.compile(withoutMetadata(schema));
      this.compiled.set(schema, fn);
    }
    return fn;
  }
}

/** A field the schema does not declare: where it is, and the object holding it. */
interface UnknownField {
  path: string;
  parent: Record<string, unknown>;
  key: string;
}

/** Paths of fields the schema does not declare (structural-schema pruning, reported instead). */
export function findUnknownFields(schema: JSONSchema, value: unknown, path = ''): string[] {
  return collectUnknownFields(schema, value, path).map((f) => f.path);
}

/** Removes fields the schema does not declare (what `fieldValidation=Ignore` does). */
export function pruneUnknownFields(schema: JSONSchema, value: unknown): void {
  for (const f of collectUnknownFields(schema, value, '')) delete f.parent[f.key];
}

function collectUnknownFields(schema: JSONSchema, value: unknown, path: string): UnknownField[] {
  const out: UnknownField[] = [];
  walk(schema, value, path, out, true);
  return out;
}

// Keys come from the client: a declared property is an own property of `properties`, never
// something every object inherits (`constructor`, `toString`, `__proto__`).
const declared = (props: Record<string, JSONSchema>, key: string): JSONSchema | undefined =>
  Object.hasOwn(props, key) ? props[key] : undefined;

function walk(schema: JSONSchema | undefined, value: unknown, path: string, out: UnknownField[], root = false) {
  if (!schema || value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    const items = schema.items as JSONSchema | undefined;
    if (items) value.forEach((v, i) => walk(items, v, `${path}[${i}]`, out));
    return;
  }
  const props = (schema.properties ?? {}) as Record<string, JSONSchema>;
  const additional = schema.additionalProperties;
  const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true;
  const embedded = schema['x-kubernetes-embedded-resource'] === true;
  if (!schema.properties && (preserve || additional === true || additional === undefined && schema.type !== 'object')) {
    if (typeof additional === 'object') for (const [k, v] of Object.entries(value)) walk(additional as JSONSchema, v, join(path, k), out);
    return;
  }
  for (const [k, v] of Object.entries(value)) {
    const here = join(path, k);
    // ObjectMeta has rules of its own (object-meta.ts).
    if ((root || embedded) && (k === 'apiVersion' || k === 'kind' || k === 'metadata')) continue;
    const prop = declared(props, k);
    if (prop) walk(prop, v, here, out);
    else if (typeof additional === 'object') walk(additional as JSONSchema, v, here, out);
    else if (!preserve && additional !== true) out.push({ path: here, parent: value as Record<string, unknown>, key: k });
  }
}

const join = (path: string, key: string) => (path ? `${path}.${key}` : key);

/** Metadata is validated by the generic ObjectMeta rules, never by a kind's schema. */
export function withoutMetadata(schema: JSONSchema): JSONSchema {
  const props = schema.properties as Record<string, JSONSchema> | undefined;
  if (!props?.metadata) return schema;
  const { metadata: _ignored, ...rest } = props;
  return { ...schema, properties: rest };
}

function toCause(e: ErrorObject): StatusCause {
  const base = e.instancePath.slice(1).split('/').filter(Boolean).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const dotted = (parts: string[]) => parts.reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), '');
  switch (e.keyword) {
    case 'required': {
      const field = dotted([...base, String((e.params as { missingProperty: string }).missingProperty)]);
      return { reason: 'FieldValueRequired', field, message: 'Required value' };
    }
    case 'additionalProperties': {
      const field = dotted([...base, String((e.params as { additionalProperty: string }).additionalProperty)]);
      return { reason: 'FieldValueInvalid', field, message: 'field not declared in schema' };
    }
    case 'enum': {
      const allowed = ((e.params as { allowedValues: unknown[] }).allowedValues ?? []).map((v) => JSON.stringify(v)).join(', ');
      return { reason: 'FieldValueNotSupported', field: dotted(base), message: `Unsupported value: supported values: ${allowed}` };
    }
    default:
      return { reason: 'FieldValueInvalid', field: dotted(base) || '<root>', message: `Invalid value: ${e.message ?? e.keyword}` };
  }
}
