import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as toYaml } from 'yaml';
import { startTestCore, type TestCore } from './support/test-core.js';
import { settle } from './support/k8s-helpers.js';
import type { KindDefinition } from '../src/registry/kind.js';

// Malformed writes of every kind, generated: create, replace and the three patch types, in JSON
// and YAML, with prototype names as keys, values of the wrong type, nesting around and far past
// the limit, numbers JSON cannot hold and YAML tags outside the core schema. Whatever comes in,
// the core answers below 500, with a Status when it refuses, and a refused write changes
// nothing; an accepted one reads back and can be written again as read. A fixed seed and a
// bounded number of runs keep it reproducible and quick.

// MORTISE_FUZZ_SEED / MORTISE_FUZZ_RUNS explore further by hand; `npm test` uses these.
const seed = Number(process.env.MORTISE_FUZZ_SEED ?? 20_261_201);
const runsPerKind = Number(process.env.MORTISE_FUZZ_RUNS ?? 24);

const ns = 'fuzz-ns';
const crdGroup = 'fuzz.example.com';

/** A valid object of every kind the core serves (a new kind must add one here). */
const seeds: Record<string, Record<string, unknown>> = {
  'core/namespaces': { metadata: { name: ns } },
  'core/secrets': { metadata: { name: 'fuzz-secret' }, data: { token: 'dG9rZW4=' } },
  'core/configmaps': { metadata: { name: 'fuzz-cm' }, data: { setting: 'on' } },
  'iam.mortise.io/users': { metadata: { name: 'fuzz-user' }, spec: { email: 'fuzz@example.com' } },
  'iam.mortise.io/groups': { metadata: { name: 'fuzz-group' } },
  'iam.mortise.io/groupbindings': { metadata: { name: 'fuzz-gb' }, groupRef: { name: 'fuzz-group' }, users: ['fuzz-user'] },
  'iam.mortise.io/globalroles': { metadata: { name: 'fuzz-gr' }, rules: [{ apiGroups: [''], resources: ['namespaces'], verbs: ['get'] }] },
  'iam.mortise.io/globalrolebindings': { metadata: { name: 'fuzz-grb' }, roleRef: { apiGroup: 'iam.mortise.io', kind: 'GlobalRole', name: 'fuzz-gr' }, subjects: [{ kind: 'User', apiGroup: 'iam.mortise.io', name: 'fuzz-user' }] },
  'tenant.mortise.io/workspaces': { metadata: { name: 'fuzz-ws' }, spec: { manager: 'fuzz-user' } },
  'iam.mortise.io/workspaceroles': { metadata: { name: 'fuzz-wr', labels: { 'tenant.mortise.io/workspace': 'fuzz-ws' } }, rules: [] },
  'iam.mortise.io/workspacerolebindings': { metadata: { name: 'fuzz-wrb', labels: { 'tenant.mortise.io/workspace': 'fuzz-ws' } }, roleRef: { apiGroup: 'iam.mortise.io', kind: 'WorkspaceRole', name: 'fuzz-wr' }, subjects: [{ kind: 'User', apiGroup: 'iam.mortise.io', name: 'fuzz-user' }] },
  'iam.mortise.io/roles': { metadata: { name: 'fuzz-role' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }] },
  'iam.mortise.io/rolebindings': { metadata: { name: 'fuzz-rb' }, roleRef: { apiGroup: 'iam.mortise.io', kind: 'Role', name: 'fuzz-role' }, subjects: [{ kind: 'User', apiGroup: 'iam.mortise.io', name: 'fuzz-user' }] },
  'iam.mortise.io/serviceaccounts': { metadata: { name: 'fuzz-sa', namespace: ns } },
  'iam.mortise.io/roletemplates': { metadata: { name: 'fuzz-rt' }, spec: { rules: [{ apiGroups: [''], resources: ['namespaces'], verbs: ['get'] }] } },
  'extensions.mortise.io/repositories': { metadata: { name: 'fuzz-repo' }, spec: { url: 'file:///nonexistent/fuzz-repository', interval: '1000h' } },
  'extensions.mortise.io/categories': { metadata: { name: 'fuzz-cat' }, spec: { displayName: { en: 'Fuzz' } } },
  'extensions.mortise.io/extensions': { metadata: { name: 'fuzz-ext' } },
  'extensions.mortise.io/extensionversions': { metadata: { name: 'fuzz-ext-1.0.0' }, spec: { extension: 'fuzz-ext', version: '1.0.0' } },
  'extensions.mortise.io/installplans': { metadata: { name: 'fuzz-ext' }, spec: { extension: { name: 'fuzz-ext', version: '1.0.0' }, enabled: false } },
  'extensions.mortise.io/jsbundles': { metadata: { name: 'fuzz-js' }, spec: { remoteEntry: '/proxy/fuzz/remoteEntry.js' } },
  'extensions.mortise.io/apiservices': { metadata: { name: 'fuzz-api' }, spec: { group: 'fuzz-api.example.com', version: 'v1', url: 'http://127.0.0.1:9' } },
  'extensions.mortise.io/reverseproxies': { metadata: { name: 'fuzz-rp' }, spec: { matcher: { path: '/proxy/fuzz' }, upstream: { url: 'http://127.0.0.1:9' } } },
  'extensions.mortise.io/admissionwebhooks': { metadata: { name: 'fuzz-admission' }, spec: { extension: 'fuzz-ext', url: 'http://127.0.0.1:9', path: '/admission', enabled: false } },
  'extensions.mortise.io/extensionentries': { metadata: { name: 'fuzz-entries' }, spec: { entries: [] } },
  'apiextensions.k8s.io/customresourcedefinitions': {
    metadata: { name: `widgets.${crdGroup}` },
    spec: {
      group: crdGroup, scope: 'Namespaced', names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
      versions: [{
        name: 'v1', served: true, storage: true,
        schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { size: { type: 'integer' }, free: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } } } } },
      }],
    },
  },
  [`${crdGroup}/widgets`]: { metadata: { name: 'fuzz-widget' }, spec: { size: 1, free: { a: 1 } } },
  // Create-only kinds: asked, answered, never stored.
  'authorization.k8s.io/selfsubjectaccessreviews': { metadata: { name: 'fuzz-review' }, spec: { resourceAttributes: { verb: 'get', group: '', resource: 'namespaces', namespace: ns } } },
  'authorization.k8s.io/selfsubjectrulesreviews': { metadata: { name: 'fuzz-review' }, spec: { namespace: ns } },
  'authorization.k8s.io/subjectaccessreviews': { metadata: { name: 'fuzz-review' }, spec: { user: 'fuzz-user', groups: ['system:authenticated'], resourceAttributes: { verb: 'get', group: '', resource: 'namespaces', namespace: ns } } },
};
const createOnly = (d: KindDefinition) => d.verbs !== undefined && !d.verbs.includes('update');

const keyOf = (d: KindDefinition) => `${d.group || 'core'}/${d.plural}`;
const collectionOf = (d: KindDefinition) => `/${d.group ? `apis/${d.group}` : 'api'}/${d.version}${d.namespaced ? `/namespaces/${ns}` : ''}/${d.plural}`;

// Markers stand where text no JS value serialises to goes in: numbers JSON cannot hold, YAML
// tags, nesting a few levels either side of the limit and thousands deep.
const deepObject = (n: number) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;
const deepArray = (n: number) => `${'['.repeat(n)}1${']'.repeat(n)}`;
const jsonMarkers = ['1e400', '-1e400', deepObject(98), deepObject(101), deepArray(150), deepObject(2000), deepArray(5000)];
const yamlMarkers = ['.inf', '-.inf', '.nan', '!!binary aGVsbG8=', '!!set {a: null}', '!foo x', '!!timestamp 2001-12-14', '!!omap [a: 1]', deepArray(99), deepArray(120), deepArray(3000)];
const marker = (i: number) => `@@M${i}@@`;
const markerPattern = /["']?@@M(\d+)@@["']?/g;

const protoNames = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'prototype'];
const key = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...protoNames) },
  { weight: 3, arbitrary: fc.constantFrom('spec', 'metadata', 'status', 'labels', 'annotations', 'name', 'manager', 'rules', 'free', 'size', 'finalizers', 'resourceVersion') },
  { weight: 1, arbitrary: fc.string({ maxLength: 6 }) },
);
const value: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  { weight: 2, arbitrary: fc.constantFrom('x', 5, -1, 1.5, null, true, [], {}, '', [1, 'a'], { a: {} }) },
  { weight: 3, arbitrary: fc.nat({ max: 20 }).map((i) => marker(i)) },
  { weight: 1, arbitrary: fc.dictionary(fc.constantFrom(...protoNames), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 }) },
);
/** Every path (as keys) inside a value: where edits land, so they reach every field a kind has. */
function pathsOf(v: unknown, prefix: string[] = []): string[][] {
  const out = [prefix];
  if (v !== null && typeof v === 'object') for (const [k, item] of Object.entries(v)) out.push(...pathsOf(item, [...prefix, k]));
  return out;
}
const editsWithin = (sample: unknown) => {
  const path = fc.tuple(fc.constantFrom(...pathsOf(sample)), fc.array(key, { maxLength: 2 })).map(([a, b]) => [...a, ...b]);
  return fc.array(fc.record({ path, value, remove: fc.boolean() }), { minLength: 1, maxLength: 3 });
};

/** Sets (or removes) `value` at `path`, making each key an own property (`__proto__` too). */
function edit(root: Record<string, unknown>, p: string[], v: unknown, remove: boolean): Record<string, unknown> {
  if (p.length === 0) return (v !== null && typeof v === 'object' && !Array.isArray(v) ? v : root) as Record<string, unknown>;
  let cur: Record<string, unknown> = root;
  for (const k of p.slice(0, -1)) {
    const next = Object.hasOwn(cur, k) ? cur[k] : undefined;
    if (next === null || typeof next !== 'object' || Array.isArray(next)) {
      Object.defineProperty(cur, k, { value: {}, writable: true, enumerable: true, configurable: true });
    }
    cur = cur[k] as Record<string, unknown>;
  }
  const last = p[p.length - 1]!;
  if (remove) delete cur[last];
  else Object.defineProperty(cur, last, { value: v, writable: true, enumerable: true, configurable: true });
  return root;
}

/** JSON or YAML text of `v`, with the markers replaced by what they stand for. */
function encode(v: unknown, yaml: boolean): string {
  const markers = yaml ? yamlMarkers : jsonMarkers;
  const text = yaml ? toYaml(v, { lineWidth: 0 }) : JSON.stringify(v);
  return text.replace(markerPattern, (_m, i: string) => markers[Number(i) % markers.length]!);
}

const pointerPart = fc.oneof(key, fc.constantFrom('-', '0', '1', 'a~1b'));
const jsonPatchOp = fc.record({
  op: fc.constantFrom('add', 'replace', 'remove', 'move', 'copy', 'test', 'constructor', 'toString'),
  path: fc.tuple(fc.constantFrom('', '/spec', '/metadata/labels', '/metadata', '/__proto__'), fc.array(pointerPart, { maxLength: 3 })).map(([a, b]) => `${a}${b.map((x) => `/${x}`).join('')}`),
  from: fc.constantFrom('/spec', '/metadata', '/metadata/labels', '/', '/constructor', '/spec/toString', ''),
  value,
});

type Write =
  | { op: 'create' | 'update'; yaml: boolean; edits: Array<{ path: string[]; value: unknown; remove: boolean }>; dryRun: boolean }
  | { op: 'merge' | 'strategic'; edits: Array<{ path: string[]; value: unknown; remove: boolean }>; dryRun: boolean }
  | { op: 'json'; ops: Array<{ op: string; path: string; from: string; value: unknown }>; dryRun: boolean; moveIntoChild: boolean };

const writesTo = (sample: Record<string, unknown>, createOnly: boolean): fc.Arbitrary<Write> => {
  const edits = editsWithin(sample);
  const create = fc.record({ op: fc.constantFrom('create' as const, ...(createOnly ? [] : ['update' as const])), yaml: fc.boolean(), edits, dryRun: fc.boolean() });
  if (createOnly) return create;
  return fc.oneof(
    create,
    fc.record({ op: fc.constantFrom('merge' as const, 'strategic' as const), edits, dryRun: fc.boolean() }),
    fc.record({ op: fc.constant('json' as const), ops: fc.array(jsonPatchOp, { minLength: 1, maxLength: 3 }), dryRun: fc.boolean(), moveIntoChild: fc.boolean() }),
  );
};

describe('write fuzz: every kind, every write, every content type', () => {
  let t: TestCore;
  const defs: KindDefinition[] = [];

  const snapshot = async (d: KindDefinition) => {
    if (createOnly(d)) return [];
    const { items } = await t.core.service.list(d, ns);
    // Controllers of some kinds (a repository that keeps failing to sync) update status on
    // their own schedule; what a client's refused write could have touched is the rest.
    return items.map(({ status: _s, metadata: { resourceVersion: _rv, ...meta }, ...rest }) => ({ ...rest, metadata: meta }));
  };

  beforeAll(async () => {
    t = await startTestCore({ inMemory: true });
    // Dependencies first: the namespace, the group, the roles, the workspace and the CRD.
    for (const [k, body] of Object.entries(seeds)) {
      if (k.startsWith('authorization.')) continue;
      if (k === `${crdGroup}/widgets`) await settle(t.core.store);
      const d = k.startsWith('core/') ? t.core.kinds.byGroupResource('', k.slice(5))! : t.core.kinds.byGroupResource(k.slice(0, k.lastIndexOf('/')), k.slice(k.lastIndexOf('/') + 1))!;
      expect(d, k).toBeDefined();
      const res = await t.api(collectionOf(d), { method: 'POST', json: body });
      expect(res.status, `${k}: ${await res.clone().text()}`).toBe(201);
    }
    await settle(t.core.store);
    defs.push(...t.core.kinds.all());
  }, 60_000);
  afterAll(async () => t?.close());

  it('has a seed object for every kind the core serves', () => {
    expect(defs.map(keyOf).filter((k) => !(k in seeds))).toEqual([]);
  });

  it('answers every malformed write below 500, and a refused write changes nothing', async () => {
    let cases = 0;
    const answered = new Map<number, number>();
    for (const d of defs) {
      const seedBody = seeds[keyOf(d)]!;
      const name = (seedBody.metadata as { name: string }).name;
      const collection = collectionOf(d);
      let created = 0;
      const writes = writesTo(seedBody, createOnly(d));
      await fc.assert(fc.asyncProperty(writes, async (w) => {
        cases++;
        const current = createOnly(d) ? {} : await (await t.api(`${collection}/${name}`)).json() as Record<string, unknown>;
        let url = `${collection}/${name}`;
        let method = 'PATCH';
        let contentType = 'application/merge-patch+json';
        let body: string;
        if (w.op === 'json') {
          contentType = 'application/json-patch+json';
          const ops: unknown[] = w.ops.map(({ op, path: p, from, value: v }) => ({ op, path: p, from, value: v }));
          if (w.moveIntoChild) ops.push({ op: 'move', from: '/spec', path: '/spec/inner' });
          body = encode(ops, false);
        } else if (w.op === 'merge' || w.op === 'strategic') {
          if (w.op === 'strategic') contentType = 'application/strategic-merge-patch+json';
          let patch: Record<string, unknown> = {};
          for (const e of w.edits) patch = edit(patch, e.path, e.value, false);
          body = encode(patch, false);
        } else {
          let obj: Record<string, unknown> = w.op === 'create'
            ? { ...structuredClone(seedBody), metadata: { ...(seedBody.metadata as object), name: `${name}-new-${++created}` } }
            : structuredClone(current);
          for (const e of w.edits) obj = edit(obj, e.path, e.value, e.remove);
          const yaml = 'yaml' in w && w.yaml;
          body = encode(obj, yaml);
          contentType = yaml ? 'application/yaml' : 'application/json';
          if (w.op === 'create') {
            url = collection;
            method = 'POST';
          } else method = 'PUT';
        }
        if (w.dryRun) url += '?dryRun=All';

        const rvBefore = await t.core.store.currentResourceVersion();
        const before = await snapshot(d);
        const res = await t.api(url, { method, body, headers: { 'content-type': contentType } });
        const text = await res.text();
        answered.set(res.status, (answered.get(res.status) ?? 0) + 1);
        const what = `${method} ${url} (${contentType}): ${res.status} ${text.slice(0, 300)}\nbody: ${body.slice(0, 400)}`;
        expect(res.status, what).toBeLessThan(500);
        const answer = JSON.parse(text) as { kind?: string; metadata?: { name?: string; resourceVersion?: string } };
        if (res.status >= 400) {
          expect(answer.kind, what).toBe('Status');
          if (await t.core.store.currentResourceVersion() !== rvBefore) expect(await snapshot(d), what).toEqual(before);
          return;
        }
        if (w.dryRun || createOnly(d)) {
          if (!createOnly(d)) expect(await snapshot(d), what).toEqual(before);
          return;
        }
        // Accepted: it reads back, and what was read can be written back unchanged.
        const readUrl = `${collection}/${answer.metadata!.name!}`;
        const read = await t.api(readUrl);
        expect(read.status, what).toBe(200);
        const again = await t.api(readUrl, { method: 'PUT', body: await read.text(), headers: { 'content-type': 'application/json' } });
        expect(again.status, `${what}\nwritten back: ${await again.clone().text()}`).toBe(200);
        await settle(t.core.store, 60);
      }), { seed, numRuns: runsPerKind, endOnFailure: true });
    }
    // The run is worth something only if it reached both sides of the line.
    expect(cases).toBe(defs.length * runsPerKind);
    const codes = [...answered.keys()];
    expect(codes.some((c) => c < 300)).toBe(true);
    expect(codes).toEqual(expect.arrayContaining([400, 422]));
    console.log(`write fuzz: ${cases} writes; answers ${JSON.stringify(Object.fromEntries([...answered].sort()))}`);
  }, 600_000);
});
