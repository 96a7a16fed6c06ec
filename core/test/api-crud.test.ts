import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestCore, workspace, type TestCore } from './support/test-core.js';
import { apiFailure, jsonPatch, mergePatch, roles, settle, workspaces } from './support/k8s-helpers.js';

// CRUD, patch, selectors, paging, dry-run, finalizers and cascading deletion, through
// @kubernetes/client-node against a real core over HTTPS. The core's own controllers run too
// (a workspace gets roles and a status, a namespace gets built-in roles): tests wait for them
// to settle where versions are compared, and look only at the objects they made.

type Obj = {
  apiVersion: string; kind: string;
  metadata: k8s.V1ObjectMeta & { name: string };
  spec?: Record<string, unknown>; status?: Record<string, unknown>; rules?: unknown[];
};

const role = (namespace: string, name: string, labels: Record<string, string> = {}, extra: Partial<k8s.V1ObjectMeta> = {}) => ({
  apiVersion: 'iam.mortise.io/v1alpha1', kind: 'Role',
  metadata: { name, namespace, labels, ...extra },
  rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }],
});

const ownerRef = (o: Obj) => ({ apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name, uid: o.metadata.uid! });

describe('resource API (client-node)', () => {
  let t: TestCore;
  let core: k8s.CoreV1Api;
  let objects: k8s.CustomObjectsApi;

  /** Creates a workspace, waits for the controllers to finish with it, and returns it as it is then. */
  const createWs = async (name: string, labels: Record<string, string> = {}, spec: Record<string, unknown> = {}, meta: Partial<k8s.V1ObjectMeta> = {}) => {
    const body = workspace(name, labels, spec);
    Object.assign(body.metadata, meta);
    const created = (await objects.createClusterCustomObject({ ...workspaces, body })) as Obj;
    await settle(t.core.store);
    return (await objects.getClusterCustomObject({ ...workspaces, name: created.metadata.name })) as Obj;
  };
  const getWs = async (name: string) => (await objects.getClusterCustomObject({ ...workspaces, name })) as Obj;
  const wsGone = (name: string) => eventually(async () => (await apiFailure(getWs(name))).code === 404, 15_000, `workspace ${name} to be gone`);
  const createNs = (name: string) => core.createNamespace({ body: { metadata: { name } } });
  const createRole = async (ns: string, name: string, labels: Record<string, string> = {}, meta: Partial<k8s.V1ObjectMeta> = {}) =>
    (await objects.createNamespacedCustomObject({ ...roles, namespace: ns, body: role(ns, name, labels, meta) })) as Obj;
  const getRole = async (ns: string, name: string) => (await objects.getNamespacedCustomObject({ ...roles, namespace: ns, name })) as Obj;
  const rv = () => settle(t.core.store);
  const mine = (l: unknown, prefix: string) => (l as { items: Obj[] }).items.filter((i) => i.metadata.name.startsWith(prefix));

  beforeAll(async () => {
    t = await startTestCore({ inMemory: true });
    core = t.kubeConfig.makeApiClient(k8s.CoreV1Api);
    objects = t.kubeConfig.makeApiClient(k8s.CustomObjectsApi);
  });
  afterAll(async () => t?.close());

  describe('create, get, list, replace, delete', () => {
    it('creates a cluster-scoped object with server-set metadata', async () => {
      const before = Date.now();
      const ws = (await objects.createClusterCustomObject({ ...workspaces, body: workspace('crud-a', { team: 'a' }, { manager: 'alice' }) })) as Obj;
      expect(ws.apiVersion).toBe('tenant.mortise.io/v1alpha1');
      expect(ws.kind).toBe('Workspace');
      // A UUID in time order (version 7): the uid index's inserts append.
      expect(ws.metadata.uid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(ws.metadata.resourceVersion).toMatch(/^\d+$/);
      expect(ws.metadata.generation).toBe(1);
      expect(ws.metadata.namespace).toBeUndefined();
      const created = Date.parse(String(ws.metadata.creationTimestamp));
      expect(created).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
      expect(created).toBeLessThanOrEqual(Date.now());
      expect(ws.spec).toEqual({ manager: 'alice' });

      // Controllers may have added a status since (and own it in managedFields); everything else is as created.
      const { status: _s, metadata: { resourceVersion: _rv, managedFields: gotFields, ...gotMeta }, ...got } = await getWs('crud-a');
      const { metadata: { resourceVersion: _rv2, ...createdMeta }, ...createdRest } = ws;
      expect({ ...got, metadata: { ...gotMeta, managedFields: gotFields?.filter((e) => e.subresource !== 'status') } }).toEqual({ ...createdRest, metadata: createdMeta });

      const list = (await objects.listClusterCustomObject({ ...workspaces })) as { kind: string; apiVersion: string; metadata: { resourceVersion: string }; items: Obj[] };
      expect(list.kind).toBe('WorkspaceList');
      expect(list.apiVersion).toBe('tenant.mortise.io/v1alpha1');
      expect(Number(list.metadata.resourceVersion)).toBeGreaterThanOrEqual(Number(ws.metadata.resourceVersion));
      const listed = list.items.find((i) => i.metadata.name === 'crud-a')!;
      expect(listed.metadata.uid).toBe(ws.metadata.uid);
      expect(Number(listed.metadata.resourceVersion)).toBeLessThanOrEqual(Number(list.metadata.resourceVersion));
    });

    it('ignores client-sent system fields on create', async () => {
      const ws = await createWs('crud-sys', {}, {}, {
        uid: '11111111-1111-1111-1111-111111111111', resourceVersion: '424242', generation: 7, creationTimestamp: new Date('2001-01-01') as never,
      });
      expect(ws.metadata.uid).not.toBe('11111111-1111-1111-1111-111111111111');
      expect(ws.metadata.generation).toBe(1);
      expect(ws.metadata.resourceVersion).not.toBe('424242');
      expect(String(ws.metadata.creationTimestamp)).not.toContain('2001');
    });

    it('refuses a second object with the same name (409 AlreadyExists)', async () => {
      await createWs('crud-dup');
      const before = await rv();
      const s = await apiFailure(createWs('crud-dup'), 409);
      expect(s.reason).toBe('AlreadyExists');
      expect(s.message).toContain('crud-dup');
      expect(await rv()).toBe(before);
    });

    it('replaces (PUT) and bumps resourceVersion; 404 for a missing object', async () => {
      const ws = await createWs('crud-put', {}, { manager: 'a' });
      const replaced = (await objects.replaceClusterCustomObject({
        ...workspaces, name: 'crud-put', body: { ...ws, spec: { manager: 'b' } },
      })) as Obj;
      expect(replaced.spec).toEqual({ manager: 'b' });
      expect(replaced.metadata.uid).toBe(ws.metadata.uid);
      expect(replaced.metadata.creationTimestamp).toBe(ws.metadata.creationTimestamp);
      expect(Number(replaced.metadata.resourceVersion)).toBeGreaterThan(Number(ws.metadata.resourceVersion));
      expect((await getWs('crud-put')).spec).toEqual({ manager: 'b' });

      const s = await apiFailure(objects.replaceClusterCustomObject({ ...workspaces, name: 'crud-missing', body: workspace('crud-missing') }), 404);
      expect(s.reason).toBe('NotFound');
      const s2 = await apiFailure(objects.getClusterCustomObject({ ...workspaces, name: 'crud-missing' }), 404);
      expect(s2.message).toBe('workspaces.tenant.mortise.io "crud-missing" not found');
      expect(s2.details).toMatchObject({ name: 'crud-missing', group: 'tenant.mortise.io', kind: 'workspaces' });
    });

    it('refuses a PUT whose body names another object (400)', async () => {
      const ws = await createWs('crud-name');
      const s = await apiFailure(objects.replaceClusterCustomObject({ ...workspaces, name: 'crud-name', body: { ...ws, metadata: { ...ws.metadata, name: 'other' } } }), 400);
      expect(s.message).toContain('does not match');
    });

    it('deletes', async () => {
      await createWs('crud-del');
      await objects.deleteClusterCustomObject({ ...workspaces, name: 'crud-del' });
      await apiFailure(getWs('crud-del'), 404);
      await apiFailure(objects.deleteClusterCustomObject({ ...workspaces, name: 'crud-del' }), 404);
    });

    it('serves namespaced objects in their namespace only', async () => {
      await createNs('crud-ns1');
      await createNs('crud-ns2');
      const r = await createRole('crud-ns1', 'reader');
      expect(r.metadata.namespace).toBe('crud-ns1');
      await createRole('crud-ns2', 'reader');
      await apiFailure(getRole('crud-ns2', 'nope'), 404);
      const inNs1 = (await objects.listNamespacedCustomObject({ ...roles, namespace: 'crud-ns1' })) as { items: Obj[] };
      expect(inNs1.items.every((i) => i.metadata.namespace === 'crud-ns1')).toBe(true);
      expect(mine(inNs1, 'reader').map((i) => `${i.metadata.namespace}/${i.metadata.name}`)).toEqual(['crud-ns1/reader']);
      const all = (await objects.listCustomObjectForAllNamespaces({ ...roles })) as { items: Obj[] };
      expect(mine(all, 'reader').map((i) => `${i.metadata.namespace}/${i.metadata.name}`).sort()).toEqual(['crud-ns1/reader', 'crud-ns2/reader']);
      // The body's namespace must agree with the URL's.
      const s = await apiFailure(objects.createNamespacedCustomObject({ ...roles, namespace: 'crud-ns1', body: role('crud-ns2', 'x') }), 400);
      expect(s.message).toContain('namespace');
    });

    it('creates with generateName', async () => {
      const body = workspace('', {});
      delete (body.metadata as { name?: string }).name;
      (body.metadata as { generateName?: string }).generateName = 'gen-';
      const a = (await objects.createClusterCustomObject({ ...workspaces, body })) as Obj;
      const b = (await objects.createClusterCustomObject({ ...workspaces, body })) as Obj;
      expect(a.metadata.name).toMatch(/^gen-[a-z0-9]{5}$/);
      expect(b.metadata.name).toMatch(/^gen-[a-z0-9]{5}$/);
      expect(a.metadata.name).not.toBe(b.metadata.name);
      expect(a.metadata.generateName).toBe('gen-');
      expect((await getWs(a.metadata.name)).metadata.uid).toBe(a.metadata.uid);
      // Neither a name nor a generateName: 422.
      const none = workspace('', {});
      delete (none.metadata as { name?: string }).name;
      const s = await apiFailure(objects.createClusterCustomObject({ ...workspaces, body: none }), 422);
      expect(s.details?.causes?.map((c) => c.field)).toContain('metadata.name');
    });
  });

  describe('generation and the status subresource', () => {
    it('bumps generation on a spec change only', async () => {
      const ws = await createWs('gen-a', {}, { manager: 'a' });
      expect(ws.metadata.generation).toBe(1);
      // Metadata-only change: no bump.
      const labelled = (await objects.patchClusterCustomObject({ ...workspaces, name: 'gen-a', body: { metadata: { labels: { x: 'y' }, annotations: { note: 'n' } } } }, mergePatch)) as Obj;
      expect(labelled.metadata.labels).toEqual({ x: 'y' });
      expect(labelled.metadata.generation).toBe(1);
      // Status change: no bump.
      const withStatus = (await objects.patchClusterCustomObjectStatus({ ...workspaces, name: 'gen-a', body: { status: { conditions: [{ type: 'Ready', status: 'True' }] } } }, mergePatch)) as Obj;
      expect(withStatus.status?.conditions).toEqual([{ type: 'Ready', status: 'True' }]);
      expect(withStatus.metadata.generation).toBe(1);
      // Spec change: bump, once per change.
      const specced = (await objects.patchClusterCustomObject({ ...workspaces, name: 'gen-a', body: { spec: { manager: 'b' } } }, mergePatch)) as Obj;
      expect(specced.metadata.generation).toBe(2);
      await settle(t.core.store);
      const again = (await objects.replaceClusterCustomObject({ ...workspaces, name: 'gen-a', body: { ...(await getWs('gen-a')), spec: { manager: 'c' } } })) as Obj;
      expect(again.metadata.generation).toBe(3);
      // The same spec again: no bump.
      await settle(t.core.store);
      const same = (await objects.replaceClusterCustomObject({ ...workspaces, name: 'gen-a', body: await getWs('gen-a') })) as Obj;
      expect(same.metadata.generation).toBe(3);
      // The client cannot set generation.
      const forced = (await objects.patchClusterCustomObject({ ...workspaces, name: 'gen-a', body: { metadata: { generation: 99 } } }, mergePatch)) as Obj;
      expect(forced.metadata.generation).toBe(3);
    });

    it('drops status on create when the kind has a status subresource', async () => {
      const body = { ...workspace('st-create'), status: { phase: 'Hacked', conditions: [{ type: 'Hacked', status: 'True' }] } };
      const ws = (await objects.createClusterCustomObject({ ...workspaces, body })) as Obj;
      expect(ws.status).toBeUndefined();
    });

    it('ignores status on the main resource and spec on /status', async () => {
      const ws = await createWs('st-a', {}, { manager: 'a' });
      const cond = (type: string) => ({ conditions: [{ type, status: 'True' }] });
      const s1 = (await objects.replaceClusterCustomObjectStatus({ ...workspaces, name: 'st-a', body: { ...ws, spec: { manager: 'ignored' }, status: { ...ws.status, ...cond('One') } } })) as Obj;
      expect(s1.status).toMatchObject(cond('One'));
      expect(s1.spec).toEqual({ manager: 'a' });
      expect(s1.metadata.generation).toBe(1);

      await settle(t.core.store);
      const cur = await getWs('st-a');
      const m1 = (await objects.replaceClusterCustomObject({ ...workspaces, name: 'st-a', body: { ...cur, spec: { manager: 'b' }, status: cond('Ignored') } })) as Obj;
      expect(m1.spec).toEqual({ manager: 'b' });
      expect(m1.status).toEqual(cur.status);
      expect(m1.metadata.generation).toBe(2);

      // Merge patches follow the same split.
      const m2 = (await objects.patchClusterCustomObject({ ...workspaces, name: 'st-a', body: { status: cond('Nope') } }, mergePatch)) as Obj;
      expect(m2.status).toMatchObject(cond('One'));
      const s2 = (await objects.patchClusterCustomObjectStatus({ ...workspaces, name: 'st-a', body: { spec: { manager: 'nope' }, status: cond('Two') } }, mergePatch)) as Obj;
      expect(s2.spec).toEqual({ manager: 'b' });
      expect(s2.status).toMatchObject(cond('Two'));
      expect(s2.metadata.generation).toBe(2);

      const got = await getWs('st-a');
      expect(got.spec).toEqual({ manager: 'b' });
      expect(got.status).toMatchObject(cond('Two'));
      // GET on /status shows the object too.
      const viaStatus = (await objects.getClusterCustomObjectStatus({ ...workspaces, name: 'st-a' })) as Obj;
      expect(viaStatus.metadata.uid).toBe(got.metadata.uid);
      expect(viaStatus.status).toMatchObject(cond('Two'));
    });

    it('validates status writes against the schema', async () => {
      await createWs('st-bad');
      const s = await apiFailure(objects.patchClusterCustomObjectStatus({ ...workspaces, name: 'st-bad', body: { status: { namespaces: 'many' } } }, mergePatch), 422);
      expect(s.details?.causes?.map((c) => c.field)).toContain('status.namespaces');
    });

    it('refuses /status on a kind without a status subresource (404)', async () => {
      await createNs('st-ns');
      await createRole('st-ns', 'r');
      await apiFailure(objects.getNamespacedCustomObjectStatus({ ...roles, namespace: 'st-ns', name: 'r' }), 404);
    });
  });

  describe('patch', () => {
    it('applies merge patches: add, change, remove with null', async () => {
      await createWs('mp-a', { keep: 'k', drop: 'd' }, { manager: 'a', description: 'desc' });
      const p = (await objects.patchClusterCustomObject({
        ...workspaces, name: 'mp-a', body: { metadata: { labels: { drop: null, add: 'new' } }, spec: { description: null, manager: 'b' } },
      }, mergePatch)) as Obj;
      expect(p.metadata.labels).toEqual({ keep: 'k', add: 'new' });
      expect(p.spec).toEqual({ manager: 'b' });
    });

    it('applies JSON patches (client-node default content type) and refuses failing tests (422)', async () => {
      await createWs('jp-a', { a: '1' }, { manager: 'a' });
      const p = (await objects.patchClusterCustomObject({
        ...workspaces, name: 'jp-a', body: [
          { op: 'test', path: '/spec/manager', value: 'a' },
          { op: 'replace', path: '/spec/manager', value: 'b' },
          { op: 'add', path: '/spec/description', value: 'added' },
          { op: 'remove', path: '/metadata/labels/a' },
          { op: 'add', path: '/metadata/labels/b', value: '2' },
        ],
      })) as Obj;
      expect(p.spec).toEqual({ manager: 'b', description: 'added' });
      expect(p.metadata.labels).toEqual({ b: '2' });

      const before = await rv();
      const s = await apiFailure(objects.patchClusterCustomObject({ ...workspaces, name: 'jp-a', body: [{ op: 'test', path: '/spec/manager', value: 'zzz' }, { op: 'replace', path: '/spec/manager', value: 'c' }] }, jsonPatch), 422);
      expect(s.message).toMatch(/test/i);
      expect(await rv()).toBe(before);
      expect((await getWs('jp-a')).spec).toEqual({ manager: 'b', description: 'added' });
    });

    it('refuses a patch that renames the object (400) or misses (404)', async () => {
      await createWs('mp-name');
      await apiFailure(objects.patchClusterCustomObject({ ...workspaces, name: 'mp-name', body: { metadata: { name: 'other' } } }, mergePatch), 400);
      await apiFailure(objects.patchClusterCustomObject({ ...workspaces, name: 'mp-missing', body: { spec: {} } }, mergePatch), 404);
    });
  });

  describe('optimistic concurrency', () => {
    it('answers 409 Conflict to a replace with a stale resourceVersion', async () => {
      const v1 = await createWs('occ-a', {}, { manager: 'a' });
      await objects.replaceClusterCustomObject({ ...workspaces, name: 'occ-a', body: { ...v1, spec: { manager: 'b' } } });
      const before = await rv();
      const s = await apiFailure(objects.replaceClusterCustomObject({ ...workspaces, name: 'occ-a', body: { ...v1, spec: { manager: 'stale' } } }), 409);
      expect(s.reason).toBe('Conflict');
      expect(s.message).toContain('occ-a');
      expect(s.message).toMatch(/modified/);
      expect(await rv()).toBe(before);
      expect((await getWs('occ-a')).spec).toEqual({ manager: 'b' });
    });

    it('answers 409 to a merge patch pinned to a stale resourceVersion and to a stale uid', async () => {
      const v1 = await createWs('occ-b', {}, { manager: 'a' });
      await objects.patchClusterCustomObject({ ...workspaces, name: 'occ-b', body: { spec: { manager: 'b' } } }, mergePatch);
      await apiFailure(objects.patchClusterCustomObject({ ...workspaces, name: 'occ-b', body: { metadata: { resourceVersion: v1.metadata.resourceVersion }, spec: { manager: 'c' } } }, mergePatch), 409);
      await apiFailure(objects.patchClusterCustomObject({ ...workspaces, name: 'occ-b', body: { metadata: { uid: '00000000-0000-0000-0000-000000000000' }, spec: { manager: 'c' } } }, mergePatch), 409);
      expect((await getWs('occ-b')).spec).toEqual({ manager: 'b' });
      // Pinned to the current version, it applies.
      const cur = await getWs('occ-b');
      const ok = (await objects.patchClusterCustomObject({ ...workspaces, name: 'occ-b', body: { metadata: { resourceVersion: cur.metadata.resourceVersion }, spec: { manager: 'c' } } }, mergePatch)) as Obj;
      expect(ok.spec).toEqual({ manager: 'c' });
    });

    it('checks delete preconditions', async () => {
      const v1 = await createWs('occ-del');
      await objects.patchClusterCustomObject({ ...workspaces, name: 'occ-del', body: { spec: { manager: 'x' } } }, mergePatch);
      await apiFailure(objects.deleteClusterCustomObject({ ...workspaces, name: 'occ-del', body: { preconditions: { resourceVersion: v1.metadata.resourceVersion } } }), 409);
      await apiFailure(objects.deleteClusterCustomObject({ ...workspaces, name: 'occ-del', body: { preconditions: { uid: 'not-the-uid' } } }), 409);
      await getWs('occ-del');
      await objects.deleteClusterCustomObject({ ...workspaces, name: 'occ-del', body: { preconditions: { uid: v1.metadata.uid } } });
      await apiFailure(getWs('occ-del'), 404);
    });
  });

  describe('selectors and paging', () => {
    const names = (l: unknown) => (l as { items: Obj[] }).items.map((i) => i.metadata.name).filter((n) => n.startsWith('sel-')).sort();
    beforeAll(async () => {
      await createWs('sel-1', { env: 'prod', tier: 'web' });
      await createWs('sel-2', { env: 'dev', tier: 'web' });
      await createWs('sel-3', { env: 'test', tier: 'db' });
      await createWs('sel-4', { tier: 'db' });
      await createWs('sel-5', {});
    });
    const byLabels = async (labelSelector: string) => names(await objects.listClusterCustomObject({ ...workspaces, labelSelector }));

    it('filters by label selector: =, ==, !=, in, notin, exists, !exists and conjunctions', async () => {
      expect(await byLabels('env=prod')).toEqual(['sel-1']);
      expect(await byLabels('env==dev')).toEqual(['sel-2']);
      // != also matches objects without the label (as in Kubernetes).
      expect(await byLabels('env!=prod')).toEqual(['sel-2', 'sel-3', 'sel-4', 'sel-5']);
      expect(await byLabels('env in (prod,dev)')).toEqual(['sel-1', 'sel-2']);
      expect(await byLabels('env in (prod, test)')).toEqual(['sel-1', 'sel-3']);
      expect(await byLabels('env notin (prod,dev)')).toEqual(['sel-3', 'sel-4', 'sel-5']);
      expect(await byLabels('env')).toEqual(['sel-1', 'sel-2', 'sel-3']);
      expect(await byLabels('!env')).toEqual(['sel-4', 'sel-5']);
      expect(await byLabels('tier=web,env!=prod')).toEqual(['sel-2']);
      expect(await byLabels('tier,!env')).toEqual(['sel-4']);
      expect(await byLabels('tier in (db),env in (test)')).toEqual(['sel-3']);
      expect(await byLabels('env=nothing')).toEqual([]);
    });

    it('filters by field selector metadata.name and metadata.namespace', async () => {
      expect(names(await objects.listClusterCustomObject({ ...workspaces, fieldSelector: 'metadata.name=sel-3' }))).toEqual(['sel-3']);
      expect(names(await objects.listClusterCustomObject({ ...workspaces, fieldSelector: 'metadata.name!=sel-3' }))).toEqual(['sel-1', 'sel-2', 'sel-4', 'sel-5']);
      expect(names(await objects.listClusterCustomObject({ ...workspaces, fieldSelector: 'metadata.name=sel-3', labelSelector: 'tier=web' }))).toEqual([]);

      await createNs('sel-ns-a');
      await createNs('sel-ns-b');
      await createRole('sel-ns-a', 'sel-r');
      await createRole('sel-ns-b', 'sel-r');
      const inA = (await objects.listCustomObjectForAllNamespaces({ ...roles, fieldSelector: 'metadata.namespace=sel-ns-a' })) as { items: Obj[] };
      expect(inA.items.length).toBeGreaterThan(0);
      expect(inA.items.every((i) => i.metadata.namespace === 'sel-ns-a')).toBe(true);
      expect(mine(inA, 'sel-').map((i) => `${i.metadata.namespace}/${i.metadata.name}`)).toEqual(['sel-ns-a/sel-r']);
      const notA = (await objects.listCustomObjectForAllNamespaces({ ...roles, fieldSelector: 'metadata.namespace!=sel-ns-a,metadata.name=sel-r' })) as { items: Obj[] };
      expect(notA.items.map((i) => `${i.metadata.namespace}/${i.metadata.name}`)).toEqual(['sel-ns-b/sel-r']);
      // Namespaces by name, through CoreV1Api.
      const ns = await core.listNamespace({ fieldSelector: 'metadata.name=sel-ns-b' });
      expect(ns.items.map((n) => n.metadata?.name)).toEqual(['sel-ns-b']);
    });

    it('pages with limit/continue, giving every object exactly once', async () => {
      await createNs('page-ns');
      for (let i = 0; i < 25; i++) await createRole('page-ns', `p-${String(i).padStart(2, '0')}`, { odd: String(i % 2 === 1) });
      await settle(t.core.store);
      // Every role in the namespace: ours and the built-in ones the core adds.
      const expected = ((await objects.listNamespacedCustomObject({ ...roles, namespace: 'page-ns' })) as { items: Obj[] }).items.map((i) => i.metadata.name);
      expect(expected.filter((n) => n.startsWith('p-'))).toHaveLength(25);
      const odds = ((await objects.listNamespacedCustomObject({ ...roles, namespace: 'page-ns', labelSelector: 'odd=true' })) as { items: Obj[] }).items.map((i) => i.metadata.name);
      expect(odds).toHaveLength(12);
      const pageThrough = async (limit: number, labelSelector?: string) => {
        const seen: string[] = [];
        let cont: string | undefined;
        let pages = 0;
        do {
          const page = (await objects.listNamespacedCustomObject({ ...roles, namespace: 'page-ns', limit, _continue: cont, labelSelector })) as { metadata: { continue?: string; resourceVersion: string }; items: Obj[] };
          expect(page.items.length).toBeLessThanOrEqual(limit);
          expect(page.metadata.resourceVersion).toMatch(/^\d+$/);
          seen.push(...page.items.map((i) => i.metadata.name));
          cont = page.metadata.continue || undefined;
          if (++pages > 30) throw new Error('paging never ended');
        } while (cont);
        return { seen, pages };
      };
      const all = await pageThrough(7);
      expect(all.seen).toEqual(expected);
      expect(all.pages).toBe(Math.ceil(expected.length / 7));
      const one = await pageThrough(1);
      expect(one.seen).toEqual(expected);
      const odd = await pageThrough(4, 'odd=true');
      expect(odd.seen).toEqual(odds);
      const big = await pageThrough(100);
      expect(big).toEqual({ seen: expected, pages: 1 });
      // Across namespaces too.
      const seenAll = new Set<string>();
      let cont: string | undefined;
      do {
        const page = (await objects.listCustomObjectForAllNamespaces({ ...roles, limit: 5, _continue: cont })) as { metadata: { continue?: string }; items: Obj[] };
        for (const i of page.items) {
          const k = `${i.metadata.namespace}/${i.metadata.name}`;
          expect(seenAll.has(k)).toBe(false);
          seenAll.add(k);
        }
        cont = page.metadata.continue || undefined;
      } while (cont);
      const everything = (await objects.listCustomObjectForAllNamespaces({ ...roles })) as { items: Obj[] };
      expect([...seenAll].sort()).toEqual(everything.items.map((i) => `${i.metadata.namespace}/${i.metadata.name}`).sort());
    });
  });

  describe('dryRun=All', () => {
    it('validates and answers but writes nothing', async () => {
      const ws = await createWs('dry-a', {}, { manager: 'a' });
      const before = await rv();
      expect((await getWs('dry-a')).metadata.resourceVersion).toBe(ws.metadata.resourceVersion);

      const c = (await objects.createClusterCustomObject({ ...workspaces, body: workspace('dry-new', {}, { manager: 'x' }), dryRun: 'All' })) as Obj;
      expect(c.metadata.name).toBe('dry-new');
      expect(c.metadata.uid).toBeTruthy();
      expect(c.spec).toEqual({ manager: 'x' });
      const r = (await objects.replaceClusterCustomObject({ ...workspaces, name: 'dry-a', body: { ...ws, spec: { manager: 'r' } }, dryRun: 'All' })) as Obj;
      expect(r.spec).toEqual({ manager: 'r' });
      const p = (await objects.patchClusterCustomObject({ ...workspaces, name: 'dry-a', body: { spec: { manager: 'p' } }, dryRun: 'All' }, mergePatch)) as Obj;
      expect(p.spec).toEqual({ manager: 'p' });
      await objects.patchClusterCustomObjectStatus({ ...workspaces, name: 'dry-a', body: { status: { conditions: [{ type: 'Dry', status: 'True' }] } }, dryRun: 'All' }, mergePatch);
      await objects.deleteClusterCustomObject({ ...workspaces, name: 'dry-a', dryRun: 'All' });

      expect(await rv()).toBe(before);
      await apiFailure(getWs('dry-new'), 404);
      expect(await getWs('dry-a')).toEqual(ws);

      // Dry runs still validate: an invalid object or a duplicate is refused.
      await apiFailure(objects.createClusterCustomObject({ ...workspaces, body: workspace('dry-a'), dryRun: 'All' }), 409);
      await apiFailure(objects.createClusterCustomObject({ ...workspaces, body: workspace('Dry_Bad'), dryRun: 'All' }), 422);
      await apiFailure(objects.createClusterCustomObject({ ...workspaces, body: workspace('dry-x'), dryRun: 'Some' }), 400);
      expect(await rv()).toBe(before);
    });
  });

  describe('finalizers', () => {
    it('keeps a deleted object until its finalizers are removed', async () => {
      await createWs('fin-a', {}, {}, { finalizers: ['example.com/hold'] });
      await objects.deleteClusterCustomObject({ ...workspaces, name: 'fin-a' });
      const deleting = await getWs('fin-a');
      expect(deleting.metadata.deletionTimestamp).toBeTruthy();
      expect(deleting.metadata.deletionGracePeriodSeconds).toBe(0);
      expect(deleting.metadata.finalizers).toEqual(['example.com/hold']);
      // As kube-apiserver does, marking an object as deleting bumps its generation (once).
      expect(deleting.metadata.generation).toBe(2);

      // Deleting again changes nothing.
      await objects.deleteClusterCustomObject({ ...workspaces, name: 'fin-a' });
      const still = await getWs('fin-a');
      expect(still.metadata.deletionTimestamp).toBe(deleting.metadata.deletionTimestamp);
      expect(still.metadata.generation).toBe(2);

      // Adding a finalizer to a deleting object is refused.
      const s = await apiFailure(objects.patchClusterCustomObject({ ...workspaces, name: 'fin-a', body: { metadata: { finalizers: ['example.com/hold', 'example.com/more'] } } }, mergePatch), 422);
      expect(s.details?.causes?.[0]?.field).toBe('metadata.finalizers');
      expect(s.message).toMatch(/finalizer/);

      // Other changes are still allowed, and deletionTimestamp cannot be cleared by a client.
      const relabelled = (await objects.patchClusterCustomObject({ ...workspaces, name: 'fin-a', body: { metadata: { labels: { x: 'y' }, deletionTimestamp: null } } }, mergePatch)) as Obj;
      expect(relabelled.metadata.labels).toEqual({ x: 'y' });
      expect(relabelled.metadata.deletionTimestamp).toBe(deleting.metadata.deletionTimestamp);

      // Removing the last finalizer completes the deletion.
      await objects.patchClusterCustomObject({ ...workspaces, name: 'fin-a', body: { metadata: { finalizers: null } } }, mergePatch);
      await apiFailure(getWs('fin-a'), 404);
    });

    it('answers a pending delete with 200 and the object, as kube-apiserver does', async () => {
      await createWs('fin-raw', {}, {}, { finalizers: ['example.com/hold'] });
      const res = await t.api('/apis/tenant.mortise.io/v1alpha1/workspaces/fin-raw', { method: 'DELETE' });
      expect(res.status).toBe(200);
      const body = (await res.json()) as Obj;
      expect(body.kind).toBe('Workspace');
      expect(body.metadata.deletionTimestamp).toBeTruthy();
      await createNs('fin-raw-ns');
      const nsRes = await t.api('/api/v1/namespaces/fin-raw-ns', { method: 'DELETE' });
      expect(nsRes.status).toBe(200);
      expect(((await nsRes.json()) as { status: { phase: string } }).status.phase).toBe('Terminating');
      await objects.patchClusterCustomObject({ ...workspaces, name: 'fin-raw', body: { metadata: { finalizers: null } } }, mergePatch);
      await wsGone('fin-raw');
    });

    it('removes finalizers one by one through replace', async () => {
      await createWs('fin-b', {}, {}, { finalizers: ['example.com/one', 'example.com/two'] });
      await objects.deleteClusterCustomObject({ ...workspaces, name: 'fin-b' });
      const cur = await getWs('fin-b');
      await objects.replaceClusterCustomObject({ ...workspaces, name: 'fin-b', body: { ...cur, metadata: { ...cur.metadata, finalizers: ['example.com/two'] } } });
      const next = await getWs('fin-b');
      expect(next.metadata.finalizers).toEqual(['example.com/two']);
      await objects.replaceClusterCustomObject({ ...workspaces, name: 'fin-b', body: { ...next, metadata: { ...next.metadata, finalizers: [] } } });
      await apiFailure(getWs('fin-b'), 404);
    });
  });

  describe('deletecollection', () => {
    it('deletes exactly the objects the selectors match', async () => {
      await createNs('dc-ns');
      for (const [name, labels] of [['dc-a', { del: 'yes' }], ['dc-b', { del: 'yes' }], ['dc-c', { del: 'no' }], ['dc-d', {}]] as const) {
        await createRole('dc-ns', name, labels);
      }
      await createNs('dc-other');
      await createRole('dc-other', 'dc-a', { del: 'yes' });
      await objects.deleteCollectionNamespacedCustomObject({ ...roles, namespace: 'dc-ns', labelSelector: 'del=yes' });
      const left = (await objects.listNamespacedCustomObject({ ...roles, namespace: 'dc-ns' })) as { items: Obj[] };
      expect(mine(left, 'dc-').map((i) => i.metadata.name)).toEqual(['dc-c', 'dc-d']);
      // Other namespaces are untouched.
      await getRole('dc-other', 'dc-a');
      await objects.deleteCollectionNamespacedCustomObject({ ...roles, namespace: 'dc-ns', fieldSelector: 'metadata.name=dc-d' });
      const left2 = (await objects.listNamespacedCustomObject({ ...roles, namespace: 'dc-ns' })) as { items: Obj[] };
      expect(mine(left2, 'dc-').map((i) => i.metadata.name)).toEqual(['dc-c']);
      const before = await rv();
      await objects.deleteCollectionNamespacedCustomObject({ ...roles, namespace: 'dc-ns', dryRun: 'All' });
      expect(await rv()).toBe(before);
    });
  });

  describe('ownerReferences and cascading deletion', () => {
    it('background: dependents are deleted after their owner', async () => {
      const owner = await createWs('gc-bg-owner');
      await createWs('gc-bg-dep1', {}, {}, { ownerReferences: [ownerRef(owner)] });
      await createWs('gc-bg-dep2', {}, {}, { ownerReferences: [ownerRef(owner)] });
      await createNs('gc-bg-ns');
      await createRole('gc-bg-ns', 'dep-role', {}, { ownerReferences: [ownerRef(owner)] });
      // A dependent with a second, living owner survives and loses only the gone owner.
      const other = await createWs('gc-bg-other');
      await createWs('gc-bg-shared', {}, {}, { ownerReferences: [ownerRef(owner), ownerRef(other)] });

      await objects.deleteClusterCustomObject({ ...workspaces, name: 'gc-bg-owner', propagationPolicy: 'Background' });
      await apiFailure(getWs('gc-bg-owner'), 404);
      await wsGone('gc-bg-dep1');
      await wsGone('gc-bg-dep2');
      await eventually(async () => (await apiFailure(getRole('gc-bg-ns', 'dep-role'))).code === 404, 15_000, 'dependent role gone');
      const shared = await eventually(async () => {
        const s = await getWs('gc-bg-shared');
        return s.metadata.ownerReferences?.length === 1 ? s : undefined;
      }, 15_000, 'shared dependent to lose the gone owner');
      expect(shared.metadata.ownerReferences!.map((r) => r.name)).toEqual(['gc-bg-other']);
      expect(shared.metadata.deletionTimestamp).toBeUndefined();
    });

    it('background is the default and cascades through several levels', async () => {
      const a = await createWs('gc-chain-a');
      const b = await createWs('gc-chain-b', {}, {}, { ownerReferences: [ownerRef(a)] });
      await createWs('gc-chain-c', {}, {}, { ownerReferences: [ownerRef(b)] });
      await objects.deleteClusterCustomObject({ ...workspaces, name: 'gc-chain-a' });
      await wsGone('gc-chain-b');
      await wsGone('gc-chain-c');
    });

    it('orphan: dependents keep living and lose the ownerReference', async () => {
      const owner = await createWs('gc-or-owner');
      const other = await createWs('gc-or-other');
      await createWs('gc-or-dep', {}, {}, { ownerReferences: [ownerRef(owner)] });
      await createWs('gc-or-dep2', {}, {}, { ownerReferences: [ownerRef(owner), ownerRef(other)] });
      await objects.deleteClusterCustomObject({ ...workspaces, name: 'gc-or-owner', propagationPolicy: 'Orphan' });
      await wsGone('gc-or-owner');
      const dep = await getWs('gc-or-dep');
      expect(dep.metadata.ownerReferences ?? []).toEqual([]);
      expect(dep.metadata.deletionTimestamp).toBeUndefined();
      const dep2 = await getWs('gc-or-dep2');
      expect(dep2.metadata.ownerReferences!.map((r) => r.name)).toEqual(['gc-or-other']);
      // And they stay (the collector does not come back for them).
      await new Promise((r) => setTimeout(r, 300));
      await getWs('gc-or-dep');
    });

    it('foreground: the owner stays, marked foregroundDeletion, until its dependents are gone', async () => {
      const owner = await createWs('gc-fg-owner');
      await createWs('gc-fg-dep', {}, {}, { ownerReferences: [{ ...ownerRef(owner), blockOwnerDeletion: true }], finalizers: ['example.com/hold'] });
      await createWs('gc-fg-dep2', {}, {}, { ownerReferences: [{ ...ownerRef(owner), blockOwnerDeletion: true }] });
      await objects.deleteClusterCustomObject({ ...workspaces, name: 'gc-fg-owner', propagationPolicy: 'Foreground' });

      const marked = await getWs('gc-fg-owner');
      expect(marked.metadata.deletionTimestamp).toBeTruthy();
      expect(marked.metadata.finalizers).toContain('foregroundDeletion');
      // The dependents are being deleted; the held one stays.
      await wsGone('gc-fg-dep2');
      const dep = await eventually(async () => {
        const d = await getWs('gc-fg-dep');
        return d.metadata.deletionTimestamp ? d : undefined;
      }, 15_000, 'dependent to be deleting');
      expect(dep.metadata.finalizers).toContain('example.com/hold');
      await new Promise((r) => setTimeout(r, 400));
      expect((await getWs('gc-fg-owner')).metadata.deletionTimestamp).toBeTruthy();

      // Releasing the dependent lets the owner go.
      await objects.patchClusterCustomObject({ ...workspaces, name: 'gc-fg-dep', body: { metadata: { finalizers: null } } }, mergePatch);
      await wsGone('gc-fg-dep');
      await wsGone('gc-fg-owner');
    });

    it('deleting an owner that never had dependents is immediate under every policy', async () => {
      for (const policy of ['Background', 'Foreground', 'Orphan']) {
        await createWs(`gc-lone-${policy.toLowerCase()}`);
        await objects.deleteClusterCustomObject({ ...workspaces, name: `gc-lone-${policy.toLowerCase()}`, propagationPolicy: policy });
        await wsGone(`gc-lone-${policy.toLowerCase()}`);
      }
    });

    it('collects a dependent created after its owner is already gone', async () => {
      const owner = await createWs('gc-late-owner');
      await objects.deleteClusterCustomObject({ ...workspaces, name: 'gc-late-owner' });
      await wsGone('gc-late-owner');
      // As the Kubernetes garbage collector does: a dependent whose every owner is absent is deleted.
      await objects.createClusterCustomObject({ ...workspaces, body: { ...workspace('gc-late-dep'), metadata: { name: 'gc-late-dep', ownerReferences: [ownerRef(owner)] } } });
      await wsGone('gc-late-dep');
      // Also when an update points an existing object at the gone owner.
      await createWs('gc-late-dep2');
      await objects.patchClusterCustomObject({ ...workspaces, name: 'gc-late-dep2', body: { metadata: { ownerReferences: [ownerRef(owner)] } } }, mergePatch);
      await wsGone('gc-late-dep2');
    });
  });

  describe('namespaces', () => {
    it('deleting a namespace deletes the objects in it, then the namespace', async () => {
      await createNs('nsdel-a');
      await createRole('nsdel-a', 'r1');
      await createRole('nsdel-a', 'r2');
      await createNs('nsdel-keep');
      await createRole('nsdel-keep', 'r1');
      await core.deleteNamespace({ name: 'nsdel-a' });
      await eventually(async () => {
        try {
          await core.readNamespace({ name: 'nsdel-a' });
          return false;
        } catch (e) {
          return (e as k8s.ApiException<unknown>).code === 404;
        }
      }, 15_000, 'namespace gone');
      const left = (await objects.listNamespacedCustomObject({ ...roles, namespace: 'nsdel-a' })) as { items: Obj[] };
      expect(left.items).toEqual([]);
      expect((await t.core.store.list({ group: 'iam.mortise.io', resource: 'roles' }, { namespace: 'nsdel-a' })).items).toEqual([]);
      await getRole('nsdel-keep', 'r1');
    });

    it('a terminating namespace refuses new objects (403); a missing one is 404', async () => {
      await createNs('nsdel-hold');
      await createRole('nsdel-hold', 'held', {}, { finalizers: ['example.com/hold'] });
      await core.deleteNamespace({ name: 'nsdel-hold' });
      const ns = await core.readNamespace({ name: 'nsdel-hold' });
      expect(ns.metadata?.deletionTimestamp).toBeTruthy();
      expect(ns.status?.phase).toBe('Terminating');
      const s = await apiFailure(createRole('nsdel-hold', 'new-one'), 403);
      expect(s.reason).toBe('Forbidden');
      expect(s.message).toContain('being terminated');

      const held = await eventually(async () => {
        const r = await getRole('nsdel-hold', 'held');
        return r.metadata.deletionTimestamp ? r : undefined;
      }, 15_000, 'held role to be deleting');
      expect(held.metadata.finalizers).toEqual(['example.com/hold']);
      // Still there while its finalizer is pending.
      await new Promise((r) => setTimeout(r, 300));
      await core.readNamespace({ name: 'nsdel-hold' });

      await objects.patchNamespacedCustomObject({ ...roles, namespace: 'nsdel-hold', name: 'held', body: { metadata: { finalizers: null } } }, mergePatch);
      await eventually(async () => {
        try {
          await core.readNamespace({ name: 'nsdel-hold' });
          return false;
        } catch (e) {
          return (e as k8s.ApiException<unknown>).code === 404;
        }
      }, 15_000, 'namespace gone after the finalizer');

      const missing = await apiFailure(createRole('nsdel-never', 'x'), 404);
      expect(missing.message).toContain('nsdel-never');
    });

    it('namespace names must be DNS-1123 labels', async () => {
      const s = await apiFailure(core.createNamespace({ body: { metadata: { name: 'has.dot' } } }), 422);
      expect(s.details?.causes?.[0]?.field).toBe('metadata.name');
    });
  });
});
