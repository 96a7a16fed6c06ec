import { describe, expect, it } from 'vitest';
import { compare } from '../src/apply/compare.js';
import { applyConfig, recordUpdate, type Writer } from '../src/apply/field-manager.js';
import { FieldSet, keyElement, pathText } from '../src/apply/field-set.js';
import { fieldSetOf } from '../src/apply/field-set-of.js';
import { decodeManagedFields } from '../src/apply/managed-fields.js';
import { merge, MergeError } from '../src/apply/merge.js';
import { objectSchemaOf } from '../src/apply/schema-shape.js';
import { ApiError } from '../src/api/status.js';
import { findDataProblem } from '../src/api/plain-data.js';
import type { JSONSchema, KindDefinition } from '../src/registry/kind.js';
import type { KubeObject } from '../src/store/resource-store.js';

// Field sets, comparison, merge and ownership (the structured-merge-diff part of server-side
// apply) on plain data, with a kind whose schema has every list type.

const schema: JSONSchema = {
  type: 'object',
  properties: {
    spec: {
      type: 'object',
      properties: {
        replicas: { type: 'integer' },
        description: { type: 'string' },
        tags: { type: 'array', items: { type: 'string' }, 'x-kubernetes-list-type': 'set' },
        args: { type: 'array', items: { type: 'string' } },
        ports: {
          type: 'array',
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['port', 'protocol'],
          items: { type: 'object', properties: { port: { type: 'integer' }, protocol: { type: 'string' }, name: { type: 'string' } } },
        },
        containers: {
          type: 'array',
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['name'],
          items: { type: 'object', properties: { name: { type: 'string' }, image: { type: 'string' }, env: { type: 'object', additionalProperties: { type: 'string' } } } },
        },
        selector: { type: 'object', 'x-kubernetes-map-type': 'atomic', properties: { app: { type: 'string' }, tier: { type: 'string' } } },
        extra: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
      },
    },
    status: { type: 'object', properties: { phase: { type: 'string' } } },
  },
};

const def: KindDefinition = {
  group: 'test.mortise.io', version: 'v1', kind: 'Widget', listKind: 'WidgetList', plural: 'widgets', singular: 'widget',
  namespaced: false, schema, subresources: { status: true }, source: 'crd',
};
const root = objectSchemaOf(def);
const writer = (manager: string): Writer => ({ manager, apiVersion: 'test.mortise.io/v1', subresource: '' });
const widget = (spec: Record<string, unknown>, metadata: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: 'test.mortise.io/v1', kind: 'Widget', metadata: { name: 'w', ...metadata }, spec,
});
const paths = (s: FieldSet) => [...s.paths()].map(pathText);
const managersOf = (o: KubeObject) => (o.metadata.managedFields as Array<{ manager: string; operation: string; fieldsV1: unknown }>).map((e) => ({ manager: e.manager, operation: e.operation, fields: paths(FieldSet.fromFieldsV1(e.fieldsV1)) }));

describe('field sets', () => {
  it('a value owns its scalars, associative items, free-map keys and empty maps; atomic values whole', () => {
    const set = fieldSetOf(widget({
      replicas: 2, tags: ['a', 'b'], args: ['x'], ports: [{ port: 80, protocol: 'TCP', name: 'web' }],
      selector: { app: 'w' }, extra: { deep: { x: 1 } }, containers: [{ name: 'c', env: {} }],
    }, { labels: { app: 'w' } }), root);
    expect(paths(set)).toEqual([
      '.apiVersion', '.kind', '.metadata.labels.app', '.metadata.name',
      '.spec.args',
      '.spec.containers[name="c"]', '.spec.containers[name="c"].env', '.spec.containers[name="c"].name',
      '.spec.extra.deep', '.spec.extra.deep.x',
      '.spec.ports[port=80,protocol="TCP"]', '.spec.ports[port=80,protocol="TCP"].name', '.spec.ports[port=80,protocol="TCP"].port', '.spec.ports[port=80,protocol="TCP"].protocol',
      '.spec.replicas', '.spec.selector', '.spec.tags[="a"]', '.spec.tags[="b"]',
    ]);
  });

  it('FieldsV1 round-trips, with "." for a member that has children, keys sorted by name', () => {
    const set = fieldSetOf(widget({ ports: [{ protocol: 'UDP', port: 53 }] }), root);
    const v1 = set.toFieldsV1();
    expect(v1).toEqual({
      'f:apiVersion': {}, 'f:kind': {}, 'f:metadata': { 'f:name': {} },
      'f:spec': { 'f:ports': { 'k:{"port":53,"protocol":"UDP"}': { '.': {}, 'f:port': {}, 'f:protocol': {} } } },
    });
    expect(FieldSet.fromFieldsV1(JSON.parse(JSON.stringify(v1))).equals(set)).toBe(true);
    expect(keyElement([['b', '<x>'], ['a', 1]])).toBe('k:{"a":1,"b":"\\u003cx\\u003e"}');
  });

  it('FieldsV1 from a client is checked', () => {
    expect(() => FieldSet.fromFieldsV1({ 'x:y': {} })).toThrow(/not a path element/);
    expect(() => FieldSet.fromFieldsV1({ 'k:[1]': {} })).toThrow(/JSON object/);
    expect(() => FieldSet.fromFieldsV1({ 'f:a': 'no' })).toThrow(/must be an object/);
    expect(() => decodeManagedFields([{ manager: 'm', operation: 'Delete', fieldsType: 'FieldsV1', fieldsV1: {} }])).toThrow(/Apply or Update/);
  });

  it('difference keeps what is below a removed member; intersection and union are set algebra', () => {
    const a = FieldSet.of([['f:spec'], ['f:spec', 'f:x'], ['f:spec', 'f:y']]);
    const b = FieldSet.of([['f:spec'], ['f:spec', 'f:y'], ['f:z']]);
    expect(paths(a.difference(b))).toEqual(['.spec.x']);
    expect(paths(a.intersection(b))).toEqual(['.spec', '.spec.y']);
    expect(paths(a.union(b))).toEqual(['.spec', '.spec.x', '.spec.y', '.z']);
    expect(a.hasAtOrUnder(['f:spec'])).toBe(true);
    expect(b.hasAtOrUnder(['f:spec', 'f:x'])).toBe(false);
  });
});

describe('compare', () => {
  it('names added, removed and modified fields; atomic values change as a whole', () => {
    const c = compare(
      widget({ replicas: 1, selector: { app: 'a' }, containers: [{ name: 'a', image: 'x' }, { name: 'b' }], args: ['1'] }),
      widget({ replicas: 2, selector: { app: 'a', tier: 't' }, containers: [{ name: 'a', image: 'y' }, { name: 'c' }], args: ['1'], description: 'd' }),
      root,
    );
    expect(paths(c.modified)).toEqual(['.spec.containers[name="a"].image', '.spec.replicas', '.spec.selector']);
    expect(paths(c.added)).toEqual(['.spec.containers[name="c"]', '.spec.containers[name="c"].name', '.spec.description']);
    expect(paths(c.removed)).toEqual(['.spec.containers[name="b"]', '.spec.containers[name="b"].name']);
  });
});

describe('merge', () => {
  it('merges maps and associative lists by key, replaces atomic lists and maps, null removes', () => {
    const live = widget({
      replicas: 1, description: 'keep', tags: ['a'], args: ['1', '2'], selector: { app: 'a', tier: 'x' },
      containers: [{ name: 'first', image: 'f' }, { name: 'a', image: 'old', env: { A: '1' } }, { name: 'live-only' }, { name: 'b' }],
    });
    const config = widget({ replicas: 3, description: null, tags: ['b'], args: ['3'], selector: { app: 'b' }, containers: [{ name: 'b', image: 'nb' }, { name: 'a', env: { B: '2' } }] });
    const merged = merge(live, config, root) as KubeObject;
    expect(merged.spec).toEqual({
      replicas: 3, tags: ['a', 'b'], args: ['3'], selector: { app: 'b' },
      containers: [{ name: 'first', image: 'f' }, { name: 'b', image: 'nb' }, { name: 'a', image: 'old', env: { A: '1', B: '2' } }, { name: 'live-only' }],
    });
    expect((live.spec as { replicas: number }).replicas).toBe(1);
  });

  it('refuses a configuration that names a list item twice', () => {
    expect(() => merge(widget({}), widget({ containers: [{ name: 'a' }, { name: 'a' }] }), root)).toThrow(MergeError);
    expect(() => merge(widget({}), widget({ containers: [{ name: 'a' }, { name: 'a' }] }), root)).toThrow('duplicate entries for key .spec.containers[name="a"]');
  });
});

describe('ownership', () => {
  const applied = (live: KubeObject | undefined, spec: Record<string, unknown>, manager: string, force = false) =>
    applyConfig(def, live, widget(spec), writer(manager), force);

  it('an apply owns what it sets; a second manager setting the same value shares it', () => {
    const one = applied(undefined, { replicas: 1, containers: [{ name: 'a', image: 'x' }] }, 'alice');
    expect(managersOf(one)).toEqual([{ manager: 'alice', operation: 'Apply', fields: ['.spec.containers[name="a"]', '.spec.containers[name="a"].image', '.spec.containers[name="a"].name', '.spec.replicas'] }]);
    const entry = (one.metadata.managedFields as Array<Record<string, unknown>>)[0]!;
    expect(entry).toMatchObject({ apiVersion: 'test.mortise.io/v1', fieldsType: 'FieldsV1' });
    expect(entry.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const two = applied(one, { replicas: 1 }, 'bob');
    expect(managersOf(two).map((m) => [m.manager, m.fields])).toEqual([
      ['alice', ['.spec.containers[name="a"]', '.spec.containers[name="a"].image', '.spec.containers[name="a"].name', '.spec.replicas']],
      ['bob', ['.spec.replicas']],
    ]);
  });

  it('changing a field another manager owns is a conflict naming the field and manager; force takes it', () => {
    const one = applied(undefined, { replicas: 1, description: 'a' }, 'alice');
    let err: unknown;
    try {
      applied(one, { replicas: 2, description: 'b' }, 'bob');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).toStatus()).toEqual({
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'Conflict', code: 409,
      message: 'Apply failed with 2 conflicts: conflicts with "alice":\n- .spec.description\n- .spec.replicas',
      details: { causes: [
        { reason: 'FieldManagerConflict', message: 'conflict with "alice"', field: '.spec.description' },
        { reason: 'FieldManagerConflict', message: 'conflict with "alice"', field: '.spec.replicas' },
      ] },
    });
    const forced = applied(one, { replicas: 2 }, 'bob', true);
    expect(forced.spec).toEqual({ replicas: 2, description: 'a' });
    expect(managersOf(forced).map((m) => [m.manager, m.fields])).toEqual([['alice', ['.spec.description']], ['bob', ['.spec.replicas']]]);
  });

  it('a field an applier stops applying is removed, unless another manager owns it', () => {
    const one = applied(undefined, { replicas: 1, description: 'a', containers: [{ name: 'a', image: 'x' }, { name: 'b' }] }, 'alice');
    const shared = applied(one, { containers: [{ name: 'b' }] }, 'bob');
    const dropped = applied(shared, { replicas: 1 }, 'alice');
    expect(dropped.spec).toEqual({ replicas: 1, containers: [{ name: 'b' }] });
    const gone = applied(dropped, {}, 'alice');
    expect(gone.spec).toEqual({ containers: [{ name: 'b' }] });
  });

  it('an Update records what it changed and takes modified fields from other managers', () => {
    const one = applied(undefined, { replicas: 1, description: 'a' }, 'alice');
    const next = structuredClone(one);
    (next.spec as Record<string, unknown>).replicas = 5;
    next.metadata.labels = { x: 'y' };
    recordUpdate(def, one, next, next.metadata.managedFields, writer('kubectl-edit'));
    expect(managersOf(next).map((m) => [m.manager, m.operation, m.fields])).toEqual([
      ['alice', 'Apply', ['.spec.description']],
      ['kubectl-edit', 'Update', ['.metadata.labels', '.metadata.labels.x', '.spec.replicas']],
    ]);
    // Status through the main resource of a kind with a status subresource is nobody's.
    const created = widget({ replicas: 1 });
    created.status = { phase: 'x' };
    recordUpdate(def, undefined, created, undefined, writer('creator'));
    expect(managersOf(created)[0]!.fields).toEqual(['.spec', '.spec.replicas']);
    // A client may reset ownership with [{}].
    const reset = structuredClone(next);
    recordUpdate(def, next, reset, [{}], writer('x'));
    expect(reset.metadata.managedFields).toBeUndefined();
  });
});

describe('depth', () => {
  it('paths below 90 elements are owned as one value, so managedFields stay within the nesting limit', () => {
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 95; i++) deep = { d: deep };
    expect(findDataProblem(deep, 97)).toBeUndefined();
    const obj = { apiVersion: 'test.mortise.io/v1', kind: 'Widget', metadata: { name: 'w' }, spec: { extra: deep } } as KubeObject;
    const longest = Math.max(...[...fieldSetOf(obj, root).paths()].map((p) => p.length));
    expect(longest).toBe(90);
    recordUpdate(def, undefined, obj, undefined, writer('deep'));
    expect(findDataProblem(obj)).toBeUndefined();
  });
});

describe('managedFields of a create', () => {
  // recordUpdate of a create with no managedFields sent writes FieldsV1 in one walk
  // (created-fields.ts); sent an empty list, it takes the general path (compare, FieldSet,
  // tracked, toFieldsV1). Both must give the same entry, byte for byte.
  const both = (d: KindDefinition, obj: KubeObject) => {
    const quick = structuredClone(obj);
    const general = structuredClone(obj);
    recordUpdate(d, undefined, quick, undefined, writer('m'));
    recordUpdate(d, undefined, general, [], writer('m'));
    const entry = (o: KubeObject) => JSON.stringify((o.metadata.managedFields as Array<Record<string, unknown>> | undefined)?.map(({ time: _, ...e }) => e));
    return { quick: entry(quick), general: entry(general), fieldsV1: (quick.metadata.managedFields as Array<{ fieldsV1: unknown }> | undefined)?.[0]?.fieldsV1 };
  };
  const noStatus: KindDefinition = { ...def, subresources: {} };
  let deep: Record<string, unknown> = { leaf: 1 };
  for (let i = 0; i < 95; i++) deep = { [`l${i}`]: deep, [`s${i}`]: i };
  const objects: Array<[string, KubeObject]> = [
    ['every list and map type', widget({
      replicas: 2, description: 'd', tags: ['b', 'a', 'b'], args: ['x', 'y'],
      ports: [{ port: 80, protocol: 'TCP', name: 'web' }, { protocol: 'UDP', port: 53 }, { port: 80, protocol: 'TCP' }],
      containers: [{ name: 'z', image: 'i', env: { B: '1', a: '2' } }, { name: 'a', env: {} }],
      selector: { tier: 't', app: 'a' }, extra: { deep: { x: [1, { y: 2 }] }, list: [], empty: {}, nil: null },
    }, {
      generateName: 'w-', namespace: 'n', uid: 'u', resourceVersion: '1', generation: 1, creationTimestamp: '2026-01-01T00:00:00Z',
      labels: { 'app.kubernetes.io/name': 'w', B: 'x', a: 'y', é: 'z', '10': 'n', '9': 'm' }, annotations: {},
      finalizers: ['f/b', 'f/a', 'f/a'],
      ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'o', uid: 'u2', controller: true }, { apiVersion: 'v1', kind: 'Secret', name: 'p', uid: 'u1' }],
    })],
    ['a list-map item without its key makes the list one value', widget({ ports: [{ name: 'no-port-or-protocol' }], containers: [{ name: 'a' }, 'not an object'] }, { ownerReferences: [{ name: 'no uid' }] })],
    ['only server metadata', { apiVersion: 'test.mortise.io/v1', kind: 'Widget', metadata: { name: 'w', namespace: 'n', uid: 'u', creationTimestamp: 't', generation: 1 } }],
    ['status, dropped with a status subresource', { ...widget({ replicas: 1 }), status: { phase: 'Ready' } }],
    ['an empty spec and deep free-form data', widget({ extra: deep }, { labels: {} })],
    ['a value of another type than the schema says', widget({ tags: 'not-a-list', ports: { not: 'a list' }, selector: ['x'] }, { labels: ['x'] as unknown as Record<string, string>, uid: { a: 1 } as unknown as string, finalizers: 'f' as unknown as string[] })],
  ];
  for (const [name, obj] of objects) {
    it(`${name}: the same FieldsV1 as the general path`, () => {
      for (const d of [def, noStatus]) {
        const r = both(d, obj);
        expect(r.quick).toBe(r.general);
      }
    });
  }
  it('owns what the client set, not server metadata nor status (status subresource)', () => {
    const r = both(def, { ...widget({ replicas: 1, tags: ['a'] }, { labels: { app: 'w' }, uid: 'u', namespace: 'n' }), status: { phase: 'Ready' } });
    expect(r.fieldsV1).toEqual({ 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } }, 'f:spec': { '.': {}, 'f:replicas': {}, 'f:tags': { '.': {}, 'v:"a"': {} } } });
    expect(both(def, { apiVersion: 'test.mortise.io/v1', kind: 'Widget', metadata: { name: 'w', uid: 'u' } }).quick).toBe(undefined);
  });
});
