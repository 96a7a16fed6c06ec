import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestCore, type TestCore } from './support/test-core.js';
import { apiFailure, mergePatch, statusOf } from './support/k8s-helpers.js';

// CustomResourceDefinitions through client-node's ApiextensionsV1Api and CustomObjectsApi.

type Obj = { apiVersion: string; kind: string; metadata: k8s.V1ObjectMeta & { name: string }; spec?: Record<string, unknown>; status?: Record<string, unknown> };

// client-node serializes V1JSONSchemaProps by its own property names: `_enum` is sent as `enum`,
// `x_kubernetes_preserve_unknown_fields` as `x-kubernetes-preserve-unknown-fields` (raw keys are dropped).
const widgetSchema: k8s.V1JSONSchemaProps = {
  type: 'object',
  properties: {
    spec: {
      type: 'object',
      required: ['size'],
      properties: {
        size: { type: 'integer', minimum: 1, maximum: 10 },
        color: { type: 'string', _enum: ['red', 'green', 'blue'] },
        tags: { type: 'array', items: { type: 'string' } },
        extra: { type: 'object', x_kubernetes_preserve_unknown_fields: true },
      },
    },
    status: { type: 'object', properties: { ready: { type: 'boolean' } } },
  },
};

function crd(group: string, plural: string, kind: string, scope: 'Namespaced' | 'Cluster', versions?: k8s.V1CustomResourceDefinitionVersion[]): k8s.V1CustomResourceDefinition {
  return {
    apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${group}` },
    spec: {
      group, scope,
      names: { plural, singular: kind.toLowerCase(), kind, listKind: `${kind}List`, shortNames: [`${plural.slice(0, 2)}x`] },
      versions: versions ?? [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: widgetSchema }, subresources: { status: {} } }],
    },
  };
}

describe('CustomResourceDefinitions', () => {
  let t: TestCore;
  let ext: k8s.ApiextensionsV1Api;
  let objects: k8s.CustomObjectsApi;
  let coreApi: k8s.CoreV1Api;
  const rv = () => t.core.store.currentResourceVersion();
  const json = async (path: string) => {
    const res = await t.api(path);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const crdGone = (name: string) => eventually(async () => (await apiFailure(ext.readCustomResourceDefinition({ name }))).code === 404, 20_000, `CRD ${name} gone`);

  beforeAll(async () => {
    t = await startTestCore({ inMemory: true });
    ext = t.kubeConfig.makeApiClient(k8s.ApiextensionsV1Api);
    objects = t.kubeConfig.makeApiClient(k8s.CustomObjectsApi);
    coreApi = t.kubeConfig.makeApiClient(k8s.CoreV1Api);
    await coreApi.createNamespace({ body: { metadata: { name: 'crd-ns' } } });
    // The kind the schema tests use (the first test makes its own).
    await ext.createCustomResourceDefinition({ body: crd('strict.example.com', 'widgets', 'Widget', 'Namespaced') });
  });
  afterAll(async () => t?.close());

  it('serves a namespaced kind right after its CRD is created, with Established status', async () => {
    const created = await ext.createCustomResourceDefinition({ body: crd('widgets.example.com', 'widgets', 'Widget', 'Namespaced') });
    expect(created.metadata?.uid).toBeTruthy();
    // No waiting: the very next request can use the kind.
    const w = (await objects.createNamespacedCustomObject({
      group: 'widgets.example.com', version: 'v1', namespace: 'crd-ns', plural: 'widgets',
      body: { apiVersion: 'widgets.example.com/v1', kind: 'Widget', metadata: { name: 'w1' }, spec: { size: 3, color: 'red' } },
    })) as Obj;
    expect(w.metadata.namespace).toBe('crd-ns');
    expect(w.metadata.uid).toBeTruthy();
    expect(w.metadata.generation).toBe(1);
    const got = (await objects.getNamespacedCustomObject({ group: 'widgets.example.com', version: 'v1', namespace: 'crd-ns', plural: 'widgets', name: 'w1' })) as Obj;
    expect(got).toEqual(w);
    // Namespaced: a cluster-wide create path is refused.
    await apiFailure(objects.createClusterCustomObject({
      group: 'widgets.example.com', version: 'v1', plural: 'widgets',
      body: { apiVersion: 'widgets.example.com/v1', kind: 'Widget', metadata: { name: 'w-cluster' }, spec: { size: 1 } },
    }));

    const established = await eventually(async () => {
      const c = await ext.readCustomResourceDefinition({ name: 'widgets.widgets.example.com' });
      return c.status?.conditions?.find((x) => x.type === 'Established' && x.status === 'True') ? c : undefined;
    }, 15_000, 'Established condition');
    expect(established.status?.conditions?.find((x) => x.type === 'NamesAccepted')?.status).toBe('True');
    expect(established.status?.acceptedNames?.kind).toBe('Widget');
    expect(established.status?.storedVersions).toEqual(['v1']);
    expect(established.metadata?.finalizers).toContain('customresourcecleanup.apiextensions.k8s.io');

    // The status subresource of the new kind works like the built-in ones.
    const s = (await objects.patchNamespacedCustomObjectStatus({ group: 'widgets.example.com', version: 'v1', namespace: 'crd-ns', plural: 'widgets', name: 'w1', body: { status: { ready: true }, spec: { size: 9 } } }, mergePatch)) as Obj;
    expect(s.status).toEqual({ ready: true });
    expect(s.spec).toEqual({ size: 3, color: 'red' });
  });

  it('serves a cluster-scoped kind', async () => {
    await ext.createCustomResourceDefinition({ body: crd('gadgets.example.com', 'gadgets', 'Gadget', 'Cluster') });
    const g = (await objects.createClusterCustomObject({
      group: 'gadgets.example.com', version: 'v1', plural: 'gadgets',
      body: { apiVersion: 'gadgets.example.com/v1', kind: 'Gadget', metadata: { name: 'g1' }, spec: { size: 1 } },
    })) as Obj;
    expect(g.metadata.namespace).toBeUndefined();
    const list = (await objects.listClusterCustomObject({ group: 'gadgets.example.com', version: 'v1', plural: 'gadgets' })) as { kind: string; items: Obj[] };
    expect(list.kind).toBe('GadgetList');
    expect(list.items.map((i) => i.metadata.name)).toEqual(['g1']);
    // Cluster-scoped: a namespaced path does not exist.
    const res = await t.api('/apis/gadgets.example.com/v1/namespaces/crd-ns/gadgets');
    await statusOf(res, 404);
  });

  it('enforces the openAPIV3Schema with 422 and causes naming the field', async () => {
    const base = { group: 'strict.example.com', version: 'v1', namespace: 'crd-ns', plural: 'widgets' };
    const body = (name: string, spec: unknown) => ({ apiVersion: 'strict.example.com/v1', kind: 'Widget', metadata: { name }, spec });
    const before = await rv();
    const tooBig = await apiFailure(objects.createNamespacedCustomObject({ ...base, body: body('bad1', { size: 11 }) }), 422);
    expect(tooBig.reason).toBe('Invalid');
    expect(tooBig.details?.causes).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'spec.size' })]));
    expect(tooBig.message).toContain('spec.size');
    const wrongType = await apiFailure(objects.createNamespacedCustomObject({ ...base, body: body('bad2', { size: 'three' }) }), 422);
    expect(wrongType.details?.causes?.map((c) => c.field)).toContain('spec.size');
    const notInEnum = await apiFailure(objects.createNamespacedCustomObject({ ...base, body: body('bad3', { size: 1, color: 'pink' }) }), 422);
    expect(notInEnum.details?.causes).toEqual([expect.objectContaining({ field: 'spec.color', reason: 'FieldValueNotSupported' })]);
    const missing = await apiFailure(objects.createNamespacedCustomObject({ ...base, body: body('bad4', { color: 'red' }) }), 422);
    expect(missing.details?.causes).toEqual([expect.objectContaining({ field: 'spec.size', reason: 'FieldValueRequired' })]);
    const arrayItem = await apiFailure(objects.createNamespacedCustomObject({ ...base, body: body('bad5', { size: 1, tags: ['ok', 7] }) }), 422);
    expect(arrayItem.details?.causes?.map((c) => c.field)).toContain('spec.tags[1]');
    expect(await rv()).toBe(before);

    // Updates are validated too.
    await objects.createNamespacedCustomObject({ ...base, body: body('valid', { size: 2 }) });
    const upd = await apiFailure(objects.patchNamespacedCustomObject({ ...base, name: 'valid', body: { spec: { size: 0 } } }, mergePatch), 422);
    expect(upd.details?.causes?.map((c) => c.field)).toContain('spec.size');
  });

  it('refuses unknown fields by default, prunes them with fieldValidation=Ignore, keeps preserved subtrees', async () => {
    const base = { group: 'strict.example.com', version: 'v1', namespace: 'crd-ns', plural: 'widgets' };
    const body = (name: string) => ({
      apiVersion: 'strict.example.com/v1', kind: 'Widget', metadata: { name },
      spec: { size: 2, bogus: true, extra: { anything: { goes: 1 } } }, topLevelJunk: 'x',
    });
    const before = await rv();
    const s = await apiFailure(objects.createNamespacedCustomObject({ ...base, body: body('unk') }), 422);
    expect(s.details?.causes?.map((c) => c.field).sort()).toEqual(['spec.bogus', 'topLevelJunk']);
    expect(s.message).toContain('unknown field');
    expect(await rv()).toBe(before);

    const pruned = (await objects.createNamespacedCustomObject({ ...base, body: body('unk'), fieldValidation: 'Ignore' })) as Obj & { topLevelJunk?: string };
    expect(pruned.spec).toEqual({ size: 2, extra: { anything: { goes: 1 } } });
    expect(pruned.topLevelJunk).toBeUndefined();
    const stored = (await objects.getNamespacedCustomObject({ ...base, name: 'unk' })) as Obj;
    expect(stored.spec).toEqual({ size: 2, extra: { anything: { goes: 1 } } });

    // Warn: accepted, pruned, and told in a Warning header.
    const res = await t.api('/apis/strict.example.com/v1/namespaces/crd-ns/widgets?fieldValidation=Warn', { method: 'POST', json: body('unk-warn') });
    expect(res.status).toBe(201);
    // RFC 7234 warn-text: a quoted string, inner quotes escaped (what kubectl prints as a warning).
    expect(res.headers.get('warning')).toContain('299 - "unknown field \\"spec.bogus\\""');
    expect(((await res.json()) as Obj).spec).toEqual({ size: 2, extra: { anything: { goes: 1 } } });
  });

  it('shows the kind in discovery, and stops showing it once the CRD is deleted, taking its objects along', async () => {
    await ext.createCustomResourceDefinition({ body: crd('temp.example.com', 'things', 'Thing', 'Namespaced') });
    const groups = await json('/apis');
    const group = (groups.body.groups as Array<{ name: string; preferredVersion: { groupVersion: string } }>).find((g) => g.name === 'temp.example.com');
    expect(group?.preferredVersion.groupVersion).toBe('temp.example.com/v1');
    const resources = await json('/apis/temp.example.com/v1');
    expect(resources.status).toBe(200);
    expect(resources.body).toMatchObject({ kind: 'APIResourceList', groupVersion: 'temp.example.com/v1' });
    const names = (resources.body.resources as Array<{ name: string; kind: string; namespaced: boolean; verbs: string[]; shortNames?: string[] }>);
    expect(names.find((r) => r.name === 'things')).toMatchObject({ kind: 'Thing', namespaced: true, shortNames: ['thx'] });
    expect(names.find((r) => r.name === 'things')!.verbs).toEqual(expect.arrayContaining(['create', 'get', 'list', 'watch', 'patch', 'delete']));
    expect(names.map((r) => r.name)).toContain('things/status');

    const base = { group: 'temp.example.com', version: 'v1', plural: 'things' };
    for (const ns of ['crd-ns', 'default']) {
      await coreApi.createNamespace({ body: { metadata: { name: ns } } }).catch(() => undefined);
      for (const n of ['a', 'b']) {
        await objects.createNamespacedCustomObject({ ...base, namespace: ns, body: { apiVersion: 'temp.example.com/v1', kind: 'Thing', metadata: { name: n }, spec: { size: 1 } } });
      }
    }
    // A watch open on the kind ends when the kind stops being served.
    const watch = await t.api('/apis/temp.example.com/v1/things?watch=1');
    expect(watch.status).toBe(200);
    const ended = (async () => {
      const reader = watch.body!.getReader();
      while (!(await reader.read()).done) { /* initial ADDED events, then the end */ }
      return true;
    })();
    await ext.deleteCustomResourceDefinition({ name: 'things.temp.example.com' });
    await crdGone('things.temp.example.com');
    expect(await Promise.race([ended, new Promise((r) => setTimeout(() => r(false), 5000))])).toBe(true);

    expect((await json('/apis/temp.example.com/v1')).status).toBe(404);
    expect((await json('/apis/temp.example.com')).status).toBe(404);
    expect(((await json('/apis')).body.groups as Array<{ name: string }>).map((g) => g.name)).not.toContain('temp.example.com');
    await statusOf(await t.api('/apis/temp.example.com/v1/namespaces/crd-ns/things'), 404);
    expect((await t.core.store.list({ group: 'temp.example.com', resource: 'things' })).items).toEqual([]);

    // Recreated, the kind starts empty.
    await ext.createCustomResourceDefinition({ body: crd('temp.example.com', 'things', 'Thing', 'Namespaced') });
    const again = (await objects.listCustomObjectForAllNamespaces({ ...base })) as { items: Obj[] };
    expect(again.items).toEqual([]);
  });

  it('keeps a deleting CRD (and its kind) until its objects are finalized, refusing new objects meanwhile', async () => {
    await ext.createCustomResourceDefinition({ body: crd('held.example.com', 'holds', 'Hold', 'Cluster') });
    const base = { group: 'held.example.com', version: 'v1', plural: 'holds' };
    await objects.createClusterCustomObject({ ...base, body: { apiVersion: 'held.example.com/v1', kind: 'Hold', metadata: { name: 'h1', finalizers: ['example.com/keep'] }, spec: { size: 1 } } });
    await ext.deleteCustomResourceDefinition({ name: 'holds.held.example.com' });
    const h1 = await eventually(async () => {
      const o = (await objects.getClusterCustomObject({ ...base, name: 'h1' })) as Obj;
      return o.metadata.deletionTimestamp ? o : undefined;
    }, 15_000, 'object to be deleting');
    expect(h1.metadata.finalizers).toEqual(['example.com/keep']);
    const terminating = await ext.readCustomResourceDefinition({ name: 'holds.held.example.com' });
    expect(terminating.metadata?.deletionTimestamp).toBeTruthy();
    // As kube-apiserver: no new objects of a kind whose CRD is going away.
    const s = await apiFailure(objects.createClusterCustomObject({ ...base, body: { apiVersion: 'held.example.com/v1', kind: 'Hold', metadata: { name: 'h2' }, spec: { size: 1 } } }), 405);
    expect(s.message).toMatch(/terminating/);

    await objects.patchClusterCustomObject({ ...base, name: 'h1', body: { metadata: { finalizers: null } } }, mergePatch);
    await crdGone('holds.held.example.com');
  });

  it('serves every served version with the requested apiVersion', async () => {
    const versions: k8s.V1CustomResourceDefinitionVersion[] = [
      { name: 'v1beta1', served: true, storage: false, schema: { openAPIV3Schema: widgetSchema } },
      { name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: widgetSchema }, subresources: { status: {} } },
      { name: 'v1alpha1', served: false, storage: false, schema: { openAPIV3Schema: widgetSchema } },
    ];
    await ext.createCustomResourceDefinition({ body: crd('multi.example.com', 'multis', 'Multi', 'Cluster', versions) });
    const base = { group: 'multi.example.com', plural: 'multis' };
    const created = (await objects.createClusterCustomObject({ ...base, version: 'v1beta1', body: { apiVersion: 'multi.example.com/v1beta1', kind: 'Multi', metadata: { name: 'm1' }, spec: { size: 4 } } })) as Obj;
    expect(created.apiVersion).toBe('multi.example.com/v1beta1');
    const asV1 = (await objects.getClusterCustomObject({ ...base, version: 'v1', name: 'm1' })) as Obj;
    expect(asV1.apiVersion).toBe('multi.example.com/v1');
    expect(asV1.spec).toEqual({ size: 4 });
    const asBeta = (await objects.getClusterCustomObject({ ...base, version: 'v1beta1', name: 'm1' })) as Obj;
    expect(asBeta.apiVersion).toBe('multi.example.com/v1beta1');
    const listBeta = (await objects.listClusterCustomObject({ ...base, version: 'v1beta1' })) as { apiVersion: string; items: Obj[] };
    expect(listBeta.apiVersion).toBe('multi.example.com/v1beta1');
    expect(listBeta.items[0]!.apiVersion).toBe('multi.example.com/v1beta1');
    // Stored at the storage version.
    expect((await t.core.store.get({ group: 'multi.example.com', resource: 'multis', namespace: '', name: 'm1' }))!.apiVersion).toBe('multi.example.com/v1');
    // A version that is not served is not there.
    await apiFailure(objects.getClusterCustomObject({ ...base, version: 'v1alpha1', name: 'm1' }), 404);
    expect((await json('/apis/multi.example.com/v1alpha1')).status).toBe(404);
    // Discovery lists both served versions, the storage version preferred.
    const group = await json('/apis/multi.example.com');
    expect((group.body.versions as Array<{ version: string }>).map((v) => v.version).sort()).toEqual(['v1', 'v1beta1']);
    expect((group.body.preferredVersion as { version: string }).version).toBe('v1');
    // A body with an apiVersion of another served version is accepted; an unserved one is not.
    await objects.createClusterCustomObject({ ...base, version: 'v1', body: { apiVersion: 'multi.example.com/v1beta1', kind: 'Multi', metadata: { name: 'm2' }, spec: { size: 1 } } });
    await apiFailure(objects.createClusterCustomObject({ ...base, version: 'v1', body: { apiVersion: 'multi.example.com/v1alpha1', kind: 'Multi', metadata: { name: 'm3' }, spec: { size: 1 } } }), 400);
  });

  it('applies a CRD update (a new schema field) to the very next request', async () => {
    await ext.createCustomResourceDefinition({ body: crd('evolve.example.com', 'evos', 'Evo', 'Cluster') });
    const base = { group: 'evolve.example.com', version: 'v1', plural: 'evos' };
    const body = { apiVersion: 'evolve.example.com/v1', kind: 'Evo', metadata: { name: 'e1' }, spec: { size: 1, newField: 'x' } };
    await apiFailure(objects.createClusterCustomObject({ ...base, body }), 422);
    const cur = await ext.readCustomResourceDefinition({ name: 'evos.evolve.example.com' });
    const schema = structuredClone(widgetSchema);
    schema.properties!.spec!.properties!.newField = { type: 'string' };
    cur.spec.versions[0]!.schema = { openAPIV3Schema: schema };
    await ext.replaceCustomResourceDefinition({ name: 'evos.evolve.example.com', body: cur });
    const e1 = (await objects.createClusterCustomObject({ ...base, body })) as Obj;
    expect(e1.spec).toEqual({ size: 1, newField: 'x' });
  });

  describe('invalid CRDs are 422 with a clear message, and nothing is served', () => {
    const invalid = async (body: k8s.V1CustomResourceDefinition, field: string, message: RegExp) => {
      const before = await rv();
      const s = await apiFailure(ext.createCustomResourceDefinition({ body }), 422);
      expect(s.reason).toBe('Invalid');
      expect(s.details?.causes?.map((c) => c.field)).toContain(field);
      expect(s.message).toMatch(message);
      expect(await rv()).toBe(before);
      return s;
    };

    it('name that is not <plural>.<group>', async () => {
      const body = crd('bad.example.com', 'bads', 'Bad', 'Cluster');
      body.metadata!.name = 'wrong.bad.example.com';
      await invalid(body, 'metadata.name', /bads\.bad\.example\.com/);
      expect((await json('/apis/bad.example.com/v1')).status).toBe(404);
    });

    it('two storage versions', async () => {
      const v = (name: string): k8s.V1CustomResourceDefinitionVersion => ({ name, served: true, storage: true, schema: { openAPIV3Schema: widgetSchema } });
      await invalid(crd('two.example.com', 'twos', 'Two', 'Cluster', [v('v1'), v('v2')]), 'spec.versions', /exactly one version marked as storage/);
    });

    it('no storage version', async () => {
      await invalid(crd('none.example.com', 'nones', 'None', 'Cluster', [{ name: 'v1', served: true, storage: false }]), 'spec.versions', /storage/);
    });

    it('a group without a dot', async () => {
      await invalid(crd('nodot', 'things', 'Thing', 'Cluster'), 'spec.group', /at least one dot/);
    });

    it('redefining a core kind', async () => {
      await invalid(crd('tenant.mortise.io', 'workspaces', 'Workspace', 'Cluster'), 'spec.names.plural', /served by the core/);
      await invalid(crd('iam.mortise.io', 'roles', 'Role', 'Namespaced'), 'spec.names.plural', /served by the core/);
      // The core kind is untouched.
      const res = await t.api('/apis/tenant.mortise.io/v1alpha1/workspaces');
      expect(res.status).toBe(200);
    });

    it('a bad version name, kind or scope', async () => {
      await invalid(crd('ver.example.com', 'vers', 'Ver', 'Cluster', [{ name: 'version1', served: true, storage: true }]), 'spec.versions[0].name', /v1beta2/);
      await invalid(crd('kind.example.com', 'kinds', 'lowercase', 'Cluster'), 'spec.names.kind', /CamelCase/);
      await invalid(crd('scope.example.com', 'scopes', 'Scope', 'Global' as 'Cluster'), 'spec.scope', /Namespaced/);
    });

    it('a schema that is not a valid schema', async () => {
      await invalid(crd('schema.example.com', 'schemas', 'Schema', 'Cluster', [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'nonsense' } } }]), 'spec.versions[0].schema.openAPIV3Schema', /schema/);
    });
  });

  it('refuses to change a CRD into something invalid or to change its scope', async () => {
    await ext.createCustomResourceDefinition({ body: crd('stable.example.com', 'stables', 'Stable', 'Cluster') });
    const cur = await ext.readCustomResourceDefinition({ name: 'stables.stable.example.com' });
    const twoStorage = structuredClone(cur);
    twoStorage.spec.versions.push({ name: 'v2', served: true, storage: true });
    await apiFailure(ext.replaceCustomResourceDefinition({ name: 'stables.stable.example.com', body: twoStorage }), 422);
    const rescoped = structuredClone(cur);
    rescoped.spec.scope = 'Namespaced';
    const s = await apiFailure(ext.replaceCustomResourceDefinition({ name: 'stables.stable.example.com', body: rescoped }), 422);
    expect(s.details?.causes?.map((c) => c.field)).toContain('spec.scope');
    // Still served as before.
    await objects.createClusterCustomObject({ group: 'stable.example.com', version: 'v1', plural: 'stables', body: { apiVersion: 'stable.example.com/v1', kind: 'Stable', metadata: { name: 's1' }, spec: { size: 1 } } });
  });
});
