import type { StatusCause } from '../api/status.js';
import type { KubeObject } from '../store/resource-store.js';
import type { JSONSchema, KindDefinition, PrinterColumn } from './kind.js';
import { validateDns1123Label, validateDns1123Subdomain } from './names.js';
import type { SchemaValidator } from './schema-validator.js';

export interface CrdVersion {
  name: string;
  served: boolean;
  storage: boolean;
  schema?: { openAPIV3Schema?: JSONSchema };
  subresources?: { status?: object };
  additionalPrinterColumns?: PrinterColumn[];
}

export interface CrdSpec {
  group: string;
  names: { plural: string; singular?: string; kind: string; listKind?: string; shortNames?: string[]; categories?: string[] };
  scope: 'Namespaced' | 'Cluster';
  versions: CrdVersion[];
}

export const crdCleanupFinalizer = 'customresourcecleanup.apiextensions.k8s.io';

/** The kind a CustomResourceDefinition defines. */
export function kindFromCrd(crd: KubeObject): KindDefinition {
  const spec = crd.spec as CrdSpec;
  const served = spec.versions.filter((v) => v.served);
  const storage = spec.versions.find((v) => v.storage) ?? served[0]!;
  const schema = storage.schema?.openAPIV3Schema ?? { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
  return {
    group: spec.group,
    version: storage.name,
    servedVersions: [storage.name, ...served.map((v) => v.name).filter((n) => n !== storage.name)],
    kind: spec.names.kind,
    listKind: spec.names.listKind ?? `${spec.names.kind}List`,
    plural: spec.names.plural,
    singular: spec.names.singular ?? spec.names.kind.toLowerCase(),
    shortNames: spec.names.shortNames,
    categories: spec.names.categories,
    namespaced: spec.scope === 'Namespaced',
    schema,
    subresources: { status: storage.subresources?.status !== undefined },
    printerColumns: storage.additionalPrinterColumns,
    source: 'crd',
    ...(crd.metadata.deletionTimestamp ? { terminating: true } : {}),
  };
}

/** A kind as a CustomResourceDefinition (for the kubernetes mode's CRD YAML). */
export function crdFromKind(def: KindDefinition): KubeObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${def.plural}.${def.group}` },
    spec: {
      group: def.group,
      names: {
        plural: def.plural, singular: def.singular, kind: def.kind, listKind: def.listKind,
        ...(def.shortNames?.length ? { shortNames: def.shortNames } : {}),
        ...(def.categories?.length ? { categories: def.categories } : {}),
      },
      scope: def.namespaced ? 'Namespaced' : 'Cluster',
      versions: [{
        name: def.version, served: true, storage: true,
        schema: { openAPIV3Schema: def.schema },
        ...(def.subresources.status ? { subresources: { status: {} } } : {}),
        ...(def.printerColumns?.length ? { additionalPrinterColumns: def.printerColumns } : {}),
      }],
    },
  };
}

/** What may not change once a CRD exists (stored objects depend on it). */
export function validateCrdUpdate(next: KubeObject, old: KubeObject): StatusCause[] {
  const scope = (next.spec as CrdSpec | undefined)?.scope;
  const oldScope = (old.spec as CrdSpec | undefined)?.scope;
  if (scope === oldScope) return [];
  return [{ reason: 'FieldValueInvalid', field: 'spec.scope', message: `Invalid value: "${scope}": field is immutable` }];
}

/** The rules Kubernetes applies to a CRD that a JSON Schema cannot express. */
export function validateCrd(crd: KubeObject, validator: SchemaValidator, isTaken: (group: string, plural: string) => boolean): StatusCause[] {
  const spec = crd.spec as CrdSpec | undefined;
  if (!spec) return [];
  const causes: StatusCause[] = [];
  const expected = `${spec.names.plural}.${spec.group}`;
  if (crd.metadata.name !== expected) {
    causes.push({ field: 'metadata.name', message: `Invalid value: "${crd.metadata.name}": must be spec.names.plural+"."+spec.group (${expected})` });
  }
  for (const e of validateDns1123Subdomain(spec.group)) causes.push({ field: 'spec.group', message: `Invalid value: "${spec.group}": ${e}` });
  if (!spec.group.includes('.')) causes.push({ field: 'spec.group', message: `Invalid value: "${spec.group}": should be a domain with at least one dot` });
  for (const e of validateDns1123Label(spec.names.plural)) causes.push({ field: 'spec.names.plural', message: `Invalid value: "${spec.names.plural}": ${e}` });
  if (!/^[A-Z][A-Za-z0-9]*$/.test(spec.names.kind)) causes.push({ field: 'spec.names.kind', message: `Invalid value: "${spec.names.kind}": must be a CamelCase identifier starting with an upper-case letter` });
  if (spec.versions.length === 0) causes.push({ field: 'spec.versions', message: 'Required value: must have at least one version' });
  const storageCount = spec.versions.filter((v) => v.storage).length;
  if (storageCount !== 1) causes.push({ field: 'spec.versions', message: `Invalid value: must have exactly one version marked as storage version, found ${storageCount}` });
  if (!spec.versions.some((v) => v.served)) causes.push({ field: 'spec.versions', message: 'Invalid value: must have at least one served version' });
  const names = new Set<string>();
  spec.versions.forEach((v, i) => {
    if (names.has(v.name)) causes.push({ field: `spec.versions[${i}].name`, message: `Duplicate value: "${v.name}"` });
    names.add(v.name);
    if (!/^v[0-9]+((alpha|beta)[0-9]+)?$/.test(v.name)) causes.push({ field: `spec.versions[${i}].name`, message: `Invalid value: "${v.name}": must be a Kubernetes version such as v1, v1beta2 or v2alpha1` });
    const schema = v.schema?.openAPIV3Schema;
    if (schema) {
      try {
        validator.compile(schema);
      } catch (e) {
        causes.push({ field: `spec.versions[${i}].schema.openAPIV3Schema`, message: `Invalid value: not a valid schema: ${(e as Error).message}` });
      }
    }
  });
  if (isTaken(spec.group, spec.names.plural)) {
    causes.push({ field: 'spec.names.plural', message: `Invalid value: "${spec.names.plural}": ${spec.names.plural}.${spec.group} is served by the core and cannot be redefined` });
  }
  return causes;
}
