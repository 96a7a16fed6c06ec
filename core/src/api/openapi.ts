import { createHash } from 'node:crypto';
import type { JSONSchema, KindDefinition } from '../registry/kind.js';
import type { KindRegistry } from '../registry/kind-registry.js';
import { versionsOf } from '../registry/kind-registry.js';

// OpenAPI documents generated from the kinds' schemas. kubectl reads /openapi/v3 to learn that
// the server validates fields itself (the `fieldValidation` parameter on PATCH), and `kubectl
// explain` reads the schemas.

const objectMetaRef = 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta';
const objectMeta: JSONSchema = {
  type: 'object',
  description: 'Standard object metadata.',
  properties: {
    name: { type: 'string' }, generateName: { type: 'string' }, namespace: { type: 'string' }, uid: { type: 'string' },
    resourceVersion: { type: 'string' }, generation: { type: 'integer', format: 'int64' },
    creationTimestamp: { type: 'string', format: 'date-time' }, deletionTimestamp: { type: 'string', format: 'date-time' },
    labels: { type: 'object', additionalProperties: { type: 'string' } },
    annotations: { type: 'object', additionalProperties: { type: 'string' } },
    finalizers: { type: 'array', items: { type: 'string' } },
    ownerReferences: { type: 'array', items: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
  },
};

export function definitionName(def: { group: string; version: string; kind: string }): string {
  const group = def.group ? def.group.split('.').reverse().join('.') : 'io.k8s.api.core';
  return `${group}.${def.version}.${def.kind}`;
}

function pathsFor(def: KindDefinition, version: string, mode: 'v2' | 'v3') {
  const gvk = { group: def.group, version, kind: def.kind };
  const base = def.group ? `/apis/${def.group}/${version}` : `/api/${version}`;
  const collection = def.namespaced ? `${base}/namespaces/{namespace}/${def.plural}` : `${base}/${def.plural}`;
  const item = `${collection}/{name}`;
  const ref = mode === 'v3' ? `#/components/schemas/${definitionName(gvk)}` : `#/definitions/${definitionName(gvk)}`;
  const param = (name: string, where: 'query' | 'path', description: string) =>
    mode === 'v3'
      ? { name, in: where, description, ...(where === 'path' ? { required: true } : {}), schema: { type: 'string', uniqueItems: true } }
      : { name, in: where, description, type: 'string', uniqueItems: true, ...(where === 'path' ? { required: true } : {}) };
  const writeParams = [
    param('dryRun', 'query', 'When present, indicates that modifications should not be persisted (All).'),
    param('fieldValidation', 'query', 'Strict (default here), Warn or Ignore: what to do with unknown fields.'),
    param('fieldManager', 'query', 'A name associated with the actor making the change.'),
  ];
  const patchParams = [...writeParams, param('force', 'query', 'Server-side apply only: take fields other managers own instead of refusing with a conflict.')];
  const pathParams = [...(def.namespaced ? [param('namespace', 'path', 'object name and auth scope')] : [])];
  const response = (description: string) =>
    mode === 'v3' ? { description, content: { 'application/json': { schema: { $ref: ref } } } } : { description, schema: { $ref: ref } };
  const op = (action: string, description: string, params: object[] = []) => ({
    description, operationId: `${action}${def.kind}`, parameters: params,
    responses: { '200': response('OK'), '401': { description: 'Unauthorized' } },
    'x-kubernetes-action': action, 'x-kubernetes-group-version-kind': gvk,
  });
  const paths: Record<string, object> = {
    [collection]: {
      get: op('list', `list or watch objects of kind ${def.kind}`),
      post: op('post', `create a ${def.kind}`, writeParams),
      parameters: pathParams,
    },
    [item]: {
      get: op('get', `read the specified ${def.kind}`),
      put: op('put', `replace the specified ${def.kind}`, writeParams),
      patch: op('patch', `partially update the specified ${def.kind}`, patchParams),
      delete: op('delete', `delete a ${def.kind}`, [param('dryRun', 'query', 'All')]),
      parameters: [param('name', 'path', `name of the ${def.kind}`), ...pathParams],
    },
  };
  if (def.subresources.status) {
    paths[`${item}/status`] = {
      get: op('get', `read status of the specified ${def.kind}`),
      put: op('put', `replace status of the specified ${def.kind}`, writeParams),
      patch: op('patch', `partially update status of the specified ${def.kind}`, patchParams),
      parameters: [param('name', 'path', `name of the ${def.kind}`), ...pathParams],
    };
  }
  return paths;
}

function schemaFor(def: KindDefinition, version: string, mode: 'v2' | 'v3'): JSONSchema {
  const props = { ...((def.schema.properties ?? {}) as Record<string, JSONSchema>) };
  props.metadata = { $ref: mode === 'v3' ? `#/components/schemas/${objectMetaRef}` : `#/definitions/${objectMetaRef}` };
  props.apiVersion = { type: 'string', description: 'APIVersion defines the versioned schema of this representation of an object.' };
  props.kind = { type: 'string', description: 'Kind is a string value representing the REST resource this object represents.' };
  return { ...def.schema, properties: props, 'x-kubernetes-group-version-kind': [{ group: def.group, version, kind: def.kind }] };
}

export function openApiV3GroupVersion(registry: KindRegistry, group: string, version: string) {
  const defs = registry.inGroupVersion(group, version);
  if (defs.length === 0) return undefined;
  const schemas: Record<string, JSONSchema> = { [objectMetaRef]: objectMeta };
  let paths: Record<string, object> = {};
  for (const def of defs) {
    schemas[definitionName({ ...def, version })] = schemaFor(def, version, 'v3');
    paths = { ...paths, ...pathsFor(def, version, 'v3') };
  }
  return { openapi: '3.0.0', info: { title: 'Mortise', version: 'v1.30.0+mortise' }, paths, components: { schemas } };
}

/** The OpenAPI v3 discovery document: one entry per group-version, with a content hash. */
export function openApiV3Root(registry: KindRegistry) {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const def of registry.all()) {
    for (const v of versionsOf(def)) {
      const key = def.group ? `apis/${def.group}/${v}` : `api/${v}`;
      if (paths[key]) continue;
      const hash = createHash('sha512').update(JSON.stringify(openApiV3GroupVersion(registry, def.group, v))).digest('hex').slice(0, 64).toUpperCase();
      paths[key] = { serverRelativeURL: `/openapi/v3/${key}?hash=${hash}` };
    }
  }
  return { paths };
}

export function openApiV2(registry: KindRegistry) {
  const definitions: Record<string, JSONSchema> = { [objectMetaRef]: objectMeta };
  let paths: Record<string, object> = {};
  for (const def of registry.all()) {
    for (const v of versionsOf(def)) {
      definitions[definitionName({ ...def, version: v })] = schemaFor(def, v, 'v2');
      paths = { ...paths, ...pathsFor(def, v, 'v2') };
    }
  }
  return { swagger: '2.0', info: { title: 'Mortise', version: 'v1.30.0+mortise' }, paths, definitions };
}

/**
 * `/openapi/v2` as kubectl asks for it (gnostic protobuf, `openapi.v2.Document`). It carries no
 * definitions on purpose: kubectl then finds no client-side schema for any kind and leaves
 * validation to the server (`fieldValidation`), so users see the server's messages. Answering
 * 406 instead makes `kubectl apply` fail ("failed to download openapi") for any kind its
 * OpenAPI v3 check does not cover, e.g. an object of a CRD created in the same file.
 */
export const openApiV2ProtobufType = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf';

export function openApiV2Protobuf(): Buffer {
  const field = (no: number, payload: Buffer) => Buffer.concat([Buffer.from([(no << 3) | 2]), varint(payload.length), payload]);
  const str = (no: number, s: string) => field(no, Buffer.from(s, 'utf8'));
  const info = Buffer.concat([str(1, 'Mortise'), str(2, 'v1.30.0+mortise')]);
  // Document: swagger = 1, info = 2, paths = 8, definitions = 9.
  return Buffer.concat([str(1, '2.0'), field(2, info), field(8, Buffer.alloc(0)), field(9, Buffer.alloc(0))]);
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}
