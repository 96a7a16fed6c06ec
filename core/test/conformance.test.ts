import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKubeCluster, type KubeCluster } from './support/kube-cluster.js';
import { eventually, login, startTestCore, type TestCore } from './support/test-core.js';

// One conformance suite, two stores: the same test bodies run against the core in embedded mode
// (SQLite) and in kubernetes mode (a real kube-apiserver v1.20.2 + etcd + controller manager,
// built by scripts/kube-apiserver.mjs). Every request goes through the core, as a client would.

interface Obj {
  apiVersion?: string;
  kind?: string;
  metadata: { name?: string; namespace?: string; uid?: string; resourceVersion?: string; deletionTimestamp?: string; finalizers?: string[]; labels?: Record<string, string>; continue?: string; generation?: number; creationTimestamp?: string; ownerReferences?: unknown[] };
  items?: Obj[];
  data?: Record<string, string>;
  [k: string]: unknown;
}

const modes = ['embedded', 'kubernetes'] as const;

describe.each(modes)('conformance of the core in %s mode', (mode) => {
  let cluster: KubeCluster | undefined;
  let t: TestCore;
  let dataDir: string;
  const ns = `conf-${mode}`;
  const cms = `/api/v1/namespaces/${ns}/configmaps`;
  const groups = '/apis/iam.mortise.io/v1alpha1/groups';

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), `mortise-conf-${mode}-`));
    if (mode === 'kubernetes') cluster = await startKubeCluster();
    t = await startTestCore({ dataDir, ...(cluster ? { mode: 'kubernetes', kubeconfig: cluster.kubeconfigPath, namespace: 'mortise-system' } : {}) });
    const res = await t.api('/api/v1/namespaces', { method: 'POST', json: { metadata: { name: ns } } });
    expect(res.status).toBe(201);
  }, 180_000);

  afterAll(async () => {
    await t?.close();
    await cluster?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  const json = async (res: Response, code: number): Promise<Obj> => {
    const body = (await res.json()) as Obj;
    expect(res.status, JSON.stringify(body)).toBe(code);
    return body;
  };

  /** A watch through the core; `seen` lists "TYPE name" of the events of objects named with `prefix`. */
  const openWatch = async (query: string, prefix: string, collection = cms) => {
    const abort = new AbortController();
    const res = await t.api(`${collection}?watch=1&${query}`, { signal: abort.signal });
    expect(res.status).toBe(200);
    const seen: string[] = [];
    const events: Array<{ type: string; object: Obj }> = [];
    const reader = res.body!.getReader();
    void (async () => {
      let text = '';
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        text += Buffer.from(value!).toString('utf8');
        let nl: number;
        while ((nl = text.indexOf('\n')) >= 0) {
          const e = JSON.parse(text.slice(0, nl)) as { type: string; object: Obj };
          text = text.slice(nl + 1);
          if (!e.object.metadata.name?.startsWith(prefix)) continue;
          seen.push(`${e.type} ${e.object.metadata.name}`);
          events.push(e);
        }
      }
    })();
    return { seen, events, stop: () => abort.abort() };
  };
  const mergePatch = (path: string, patch: unknown) => t.api(path, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify(patch) });

  it('creates, reads, replaces and deletes, with server-set uid, creationTimestamp and resourceVersion', async () => {
    const created = await json(await t.api(cms, { method: 'POST', json: { metadata: { name: 'crud', uid: 'client-chosen' }, data: { a: '1' } } }), 201);
    expect(created.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.metadata.uid).not.toBe('client-chosen');
    expect(created.metadata.creationTimestamp).toMatch(/Z$/);
    const got = await json(await t.api(`${cms}/crud`), 200);
    expect(got.data).toEqual({ a: '1' });
    const replaced = await json(await t.api(`${cms}/crud`, { method: 'PUT', json: { ...got, data: { a: '2' } } }), 200);
    expect(replaced.data).toEqual({ a: '2' });
    expect(replaced.metadata.uid).toBe(created.metadata.uid);
    expect(replaced.metadata.resourceVersion).not.toBe(got.metadata.resourceVersion);
    await json(await t.api(`${cms}/crud`, { method: 'DELETE' }), 200);
    expect((await t.api(`${cms}/crud`)).status).toBe(404);

    // A core kind (a CRD in the cluster) the same way; generation moves with the spec.
    const g = await json(await t.api(groups, { method: 'POST', json: { apiVersion: 'iam.mortise.io/v1alpha1', kind: 'Group', metadata: { name: `conf-${mode}-g` }, spec: { description: 'one' } } }), 201);
    expect(g.metadata.generation).toBe(1);
    const g2 = await json(await t.api(`${groups}/${g.metadata.name}`, { method: 'PUT', json: { ...g, spec: { description: 'two' } } }), 200);
    expect(g2.metadata.generation).toBe(2);
    expect((g2.spec as { description: string }).description).toBe('two');
    await json(await t.api(`${groups}/${g.metadata.name}`, { method: 'DELETE' }), 200);
  });

  it('answers 409 to a write with a stale resourceVersion and 409 AlreadyExists to a second create', async () => {
    const a = await json(await t.api(cms, { method: 'POST', json: { metadata: { name: 'stale' }, data: { v: '1' } } }), 201);
    await json(await t.api(`${cms}/stale`, { method: 'PUT', json: { ...a, data: { v: '2' } } }), 200);
    const conflict = await json(await t.api(`${cms}/stale`, { method: 'PUT', json: { ...a, data: { v: '3' } } }), 409);
    expect(conflict).toMatchObject({ kind: 'Status', reason: 'Conflict', code: 409 });
    const again = await json(await t.api(cms, { method: 'POST', json: { metadata: { name: 'stale' } } }), 409);
    expect(again.reason).toBe('AlreadyExists');
    expect(((await json(await t.api(`${cms}/stale`), 200)).data as { v: string }).v).toBe('2');
  });

  it('lists with label and field selectors, and pages with limit and continue', async () => {
    for (let i = 0; i < 5; i++) {
      await json(await t.api(cms, { method: 'POST', json: { metadata: { name: `page-${i}`, labels: { tier: i % 2 ? 'odd' : 'even', suite: 'paging' } } } }), 201);
    }
    const odd = await json(await t.api(`${cms}?labelSelector=${encodeURIComponent('tier=odd,suite=paging')}`), 200);
    expect(odd.items!.map((o) => o.metadata.name)).toEqual(['page-1', 'page-3']);
    const one = await json(await t.api(`${cms}?fieldSelector=${encodeURIComponent('metadata.name=page-2')}`), 200);
    expect(one.items!.map((o) => o.metadata.name)).toEqual(['page-2']);
    const seen: string[] = [];
    let cont = '';
    let pages = 0;
    do {
      const page = await json(await t.api(`${cms}?labelSelector=suite%3Dpaging&limit=2${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`), 200);
      expect(page.items!.length).toBeLessThanOrEqual(2);
      seen.push(...page.items!.map((o) => o.metadata.name!));
      cont = page.metadata.continue ?? '';
      pages++;
    } while (cont && pages < 10);
    expect(seen).toEqual(['page-0', 'page-1', 'page-2', 'page-3', 'page-4']);
    expect(pages).toBe(3);
    // A continue token that is nobody's is refused with a Status; the object named on a path
    // with a field selector naming another is refused too.
    expect((await json(await t.api(`${cms}?limit=2&continue=not-a-token`), 400)).kind).toBe('Status');
    const first = await json(await t.api(`${cms}?labelSelector=suite%3Dpaging&limit=2`), 200);
    if (cluster) {
      // Paging is the cluster's own: the core hands out the API server's continue token.
      const direct = await cluster.api('GET', `${cms}?labelSelector=suite%3Dpaging&limit=2&continue=${encodeURIComponent(first.metadata.continue!)}`);
      expect(direct.status).toBe(200);
      expect((direct.body as Obj).items!.map((o) => o.metadata.name)).toEqual(['page-2', 'page-3']);
    }
    const notName = await json(await t.api(`${cms}?fieldSelector=${encodeURIComponent('metadata.name!=page-0')}&labelSelector=${encodeURIComponent('tier in (even),suite=paging')}`), 200);
    expect(notName.items!.map((o) => o.metadata.name)).toEqual(['page-2', 'page-4']);
  });

  it('sends an object that leaves a label-selector watch as DELETED and one that enters as ADDED', async () => {
    const from = (await json(await t.api(cms), 200)).metadata.resourceVersion!;
    const w = await openWatch(`labelSelector=${encodeURIComponent('watched=yes')}&resourceVersion=${from}`, 'sel-');
    const named = await openWatch(`fieldSelector=${encodeURIComponent('metadata.name=sel-b')}&resourceVersion=${from}`, 'sel-');
    await json(await t.api(cms, { method: 'POST', json: { metadata: { name: 'sel-a', labels: { watched: 'no' } } } }), 201);
    await json(await t.api(cms, { method: 'POST', json: { metadata: { name: 'sel-b', labels: { watched: 'yes' } } } }), 201);
    await json(await mergePatch(`${cms}/sel-a`, { metadata: { labels: { watched: 'yes' } } }), 200); // enters
    await json(await mergePatch(`${cms}/sel-a`, { data: { k: 'v' } }), 200); // stays in
    await json(await mergePatch(`${cms}/sel-b`, { metadata: { labels: { watched: null } } }), 200); // leaves
    await json(await mergePatch(`${cms}/sel-b`, { data: { k: 'v' } }), 200); // outside: nothing
    await json(await t.api(`${cms}/sel-b`, { method: 'DELETE' }), 200); // outside: nothing
    await json(await t.api(`${cms}/sel-a`, { method: 'DELETE' }), 200); // inside: DELETED
    await eventually(() => w.seen.length >= 5 && named.seen.length >= 4, 15_000, 'the selected events');
    // A last event that both watches select: nothing else came before it.
    await json(await t.api(cms, { method: 'POST', json: { metadata: { name: 'sel-b', labels: { watched: 'yes' } } } }), 201);
    await eventually(() => w.seen.length >= 6 && named.seen.length >= 5, 15_000, 'the closing event');
    w.stop();
    named.stop();
    expect(w.seen).toEqual(['ADDED sel-b', 'ADDED sel-a', 'MODIFIED sel-a', 'DELETED sel-b', 'DELETED sel-a', 'ADDED sel-b']);
    // Leaving shows the last state inside the selection (still labelled) at the leaving write's resourceVersion.
    const left = w.events[3]!.object;
    const leaving = named.events[1]!.object;
    expect(left.metadata.labels).toEqual({ watched: 'yes' });
    expect(leaving.metadata.labels?.watched).toBeUndefined();
    expect(left.metadata.resourceVersion).toBe(leaving.metadata.resourceVersion);
    expect(named.seen).toEqual(['ADDED sel-b', 'MODIFIED sel-b', 'MODIFIED sel-b', 'DELETED sel-b', 'ADDED sel-b']);
  });

  it('watches from a resourceVersion: later changes, in order, nothing before it', async () => {
    const before = await json(await t.api(cms, { method: 'POST', json: { metadata: { name: 'w-before' } } }), 201);
    const from = before.metadata.resourceVersion!;
    await json(await t.api(cms, { method: 'POST', json: { metadata: { name: 'w-after' } } }), 201);
    await json(await t.api(`${cms}/w-before`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ data: { changed: 'yes' } }) }), 200);
    await json(await t.api(`${cms}/w-after`, { method: 'DELETE' }), 200);
    const abort = new AbortController();
    const res = await t.api(`${cms}?watch=1&resourceVersion=${from}`, { signal: abort.signal });
    expect(res.status).toBe(200);
    const events: string[] = [];
    const reader = res.body!.getReader();
    let text = '';
    while (events.length < 3) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString('utf8');
      let nl: number;
      while ((nl = text.indexOf('\n')) >= 0) {
        const e = JSON.parse(text.slice(0, nl)) as { type: string; object: Obj };
        text = text.slice(nl + 1);
        if (e.object.metadata.name?.startsWith('w-')) events.push(`${e.type} ${e.object.metadata.name}`);
      }
    }
    abort.abort();
    expect(events).toEqual(['ADDED w-after', 'MODIFIED w-before', 'DELETED w-after']);
  });

  it('admits a RoleBinding sent right after its Role, as `kubectl apply` of both does', async () => {
    // The escalation check finds roles in the RBAC index, which a watch keeps current; in
    // kubernetes mode that watch may not have brought the Role yet when its binding arrives.
    const iam = '/apis/iam.mortise.io/v1alpha1';
    for (let i = 0; i < 10; i++) {
      await json(await t.api(`${iam}/namespaces/${ns}/roles`, { method: 'POST', json: { metadata: { name: `b2b-${i}` }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }] } }), 201);
      await json(await t.api(`${iam}/namespaces/${ns}/rolebindings`, { method: 'POST', json: { metadata: { name: `b2b-${i}` }, roleRef: { kind: 'Role', name: `b2b-${i}` }, subjects: [{ kind: 'User', name: `b2b-user-${i}` }] } }), 201);
    }
    // And kubectl itself, one file holding both: one process, the binding sent the moment the
    // Role's create is answered.
    const file = join(dataDir, 'role-and-binding.yaml');
    writeFileSync(file, [
      `apiVersion: iam.mortise.io/v1alpha1\nkind: Role\nmetadata:\n  name: b2b-kubectl\n  namespace: ${ns}\nrules:\n- apiGroups: [""]\n  resources: [configmaps]\n  verbs: [get]\n`,
      `apiVersion: iam.mortise.io/v1alpha1\nkind: RoleBinding\nmetadata:\n  name: b2b-kubectl\n  namespace: ${ns}\nroleRef:\n  kind: Role\n  name: b2b-kubectl\nsubjects:\n- kind: User\n  name: b2b-kubectl-user\n`,
    ].join('---\n'));
    const applied = await new Promise<string>((resolve, reject) => {
      execFile('kubectl', ['--kubeconfig', t.kubeconfigPath, 'apply', '-f', file], { timeout: 30_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
    });
    expect(applied).toContain('rolebinding.iam.mortise.io/b2b-kubectl created');
    // A binding to a role that exists nowhere is still refused.
    const missing = await t.api(`${iam}/namespaces/${ns}/rolebindings`, { method: 'POST', json: { metadata: { name: 'b2b-missing' }, roleRef: { kind: 'Role', name: 'no-such-role' }, subjects: [{ kind: 'User', name: 'b2b-user' }] } });
    expect(missing.status).toBe(422);
    expect(await missing.text()).toContain('Role \\"no-such-role\\" does not exist');
  });

  it('decides the request right after a grant, a revocation or a logout on it', async () => {
    // What decides a request (the RBAC index, the ended sessions) is kept in memory from the
    // store's watch. In kubernetes mode that is kube-apiserver's watch, which brings a write some
    // milliseconds after its answer: a write through the core answers only once those caches have
    // it (WatchOptions.cache), so the very next request is decided on it.
    const iam = '/apis/iam.mortise.io/v1alpha1';
    const user = `rw-${mode}`;
    const password = `${user}-password-1`;
    await json(await t.api(`${iam}/users`, { method: 'POST', json: { apiVersion: 'iam.mortise.io/v1alpha1', kind: 'User', metadata: { name: user }, spec: { email: `${user}@example.com`, password } } }), 201);
    await json(await t.api(`${iam}/namespaces/${ns}/roles`, { method: 'POST', json: { metadata: { name: 'rw-cm' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }] } }), 201);
    await json(await t.api(cms, { method: 'POST', json: { metadata: { name: 'rw-target' } } }), 201);
    const token = await login(t.url, user, password);
    const read = async () => (await fetch(`${t.url}${cms}/rw-target`, { headers: { authorization: `Bearer ${token}` } })).status;
    const bindings = `${iam}/namespaces/${ns}/rolebindings`;
    const seen: number[] = [];
    for (let i = 0; i < 8; i++) {
      await json(await t.api(bindings, { method: 'POST', json: { metadata: { name: `rw-${i}` }, roleRef: { kind: 'Role', name: 'rw-cm' }, subjects: [{ kind: 'User', name: user }] } }), 201);
      seen.push(await read());
      await json(await t.api(`${bindings}/rw-${i}`, { method: 'DELETE' }), 200);
      seen.push(await read());
    }
    expect(seen).toEqual(Array.from({ length: 8 }, () => [200, 403]).flat());

    // Sessions: an access token stops at the request right after its session is revoked.
    await json(await t.api(bindings, { method: 'POST', json: { metadata: { name: 'rw-keep' }, roleRef: { kind: 'Role', name: 'rw-cm' }, subjects: [{ kind: 'User', name: user }] } }), 201);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${t.url}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'password', username: user, password }) });
      const session = (await res.json()) as { access_token: string; refresh_token: string };
      const who = async () => (await fetch(`${t.url}${cms}/rw-target`, { headers: { authorization: `Bearer ${session.access_token}` } })).status;
      statuses.push(await who());
      expect((await fetch(`${t.url}/oauth/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: session.refresh_token }) })).status).toBe(200);
      statuses.push(await who());
    }
    expect(statuses).toEqual([200, 401, 200, 401, 200, 401, 200, 401]);
  });

  it('serves a list authorized for one name, and a workspace view, no wider when the store selects', async () => {
    const iam = '/apis/iam.mortise.io/v1alpha1';
    const user = `one-${mode}`;
    await json(await t.api(`${iam}/users`, { method: 'POST', json: { apiVersion: 'iam.mortise.io/v1alpha1', kind: 'User', metadata: { name: user }, spec: { email: `${user}@example.com`, password: `${user}-password-1` } } }), 201);
    await json(await t.api(`${iam}/namespaces/${ns}/roles`, { method: 'POST', json: { metadata: { name: 'one-cm' }, rules: [{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['scoped-mine'], verbs: ['get', 'list', 'watch'] }] } }), 201);
    await json(await t.api(`${iam}/namespaces/${ns}/rolebindings`, { method: 'POST', json: { metadata: { name: 'one-cm' }, roleRef: { kind: 'Role', name: 'one-cm' }, subjects: [{ kind: 'User', name: user }] } }), 201);
    for (const name of ['scoped-mine', 'scoped-other']) await json(await t.api(cms, { method: 'POST', json: { metadata: { name, labels: { scoped: 'yes' } } } }), 201);
    const token = await login(t.url, user, `${user}-password-1`);
    const as = (path: string) => fetch(`${t.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    await eventually(async () => (await as(`${cms}/scoped-mine`)).status === 200, 10_000, 'the grant');
    const mine = await json(await as(`${cms}?fieldSelector=${encodeURIComponent('metadata.name=scoped-mine')}&labelSelector=scoped%3Dyes`), 200);
    expect(mine.items!.map((o) => o.metadata.name)).toEqual(['scoped-mine']);
    expect((await as(`${cms}?labelSelector=scoped%3Dyes`)).status).toBe(403);
    expect((await as(`${cms}?fieldSelector=${encodeURIComponent('metadata.name=scoped-other')}`)).status).toBe(403);

    // A workspace's namespaces: its label selects them, in the cluster too.
    const tenant = '/kapis/tenant.mortise.io/v1alpha1/workspaces';
    for (const ws of [`tv-a-${mode}`, `tv-b-${mode}`]) {
      await json(await t.api('/apis/tenant.mortise.io/v1alpha1/workspaces', { method: 'POST', json: { apiVersion: 'tenant.mortise.io/v1alpha1', kind: 'Workspace', metadata: { name: ws }, spec: {} } }), 201);
      await json(await t.api(`${tenant}/${ws}/namespaces`, { method: 'POST', json: { metadata: { name: `${ws}-ns` } } }), 201);
    }
    const inA = await json(await t.api(`${tenant}/tv-a-${mode}/namespaces`), 200);
    expect(inA.items!.map((o) => o.metadata.name)).toEqual([`tv-a-${mode}-ns`]);
  });

  it('writes status through the status subresource in one write (one watch event), leaving the rest alone', async () => {
    const bundles = '/apis/extensions.mortise.io/v1alpha1/jsbundles';
    const name = `st-${mode}`;
    const created = await json(await t.api(bundles, { method: 'POST', json: { apiVersion: 'extensions.mortise.io/v1alpha1', kind: 'JSBundle', metadata: { name }, spec: { remoteEntry: '/one.js' }, status: { state: 'ignored on create' } } }), 201);
    expect(created.status).toBeUndefined();
    const w = await openWatch(`fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}&resourceVersion=${created.metadata.resourceVersion}`, 'st-', bundles);
    // Spec sent to /status is ignored; status sent to the main resource is ignored.
    const st = await json(await mergePatch(`${bundles}/${name}/status`, { spec: { remoteEntry: '/changed.js' }, status: { state: 'Ready' } }), 200);
    expect(st).toMatchObject({ spec: { remoteEntry: '/one.js' }, status: { state: 'Ready' } });
    const main = await json(await mergePatch(`${bundles}/${name}`, { metadata: { labels: { marker: 'last' } }, status: { state: 'ignored' } }), 200);
    expect(main.status).toEqual({ state: 'Ready' });
    await eventually(() => w.seen.length >= 2, 15_000, 'the two writes');
    await json(await t.api(`${bundles}/${name}`, { method: 'DELETE' }), 200);
    await eventually(() => w.seen.length >= 3, 15_000, 'the deletion');
    w.stop();
    expect(w.seen).toEqual([`MODIFIED ${name}`, `MODIFIED ${name}`, `DELETED ${name}`]);
  });

  it('keeps a deleted object with finalizers until the last finalizer is removed', async () => {
    await json(await t.api(cms, { method: 'POST', json: { metadata: { name: 'held', finalizers: ['example.com/hold'] } } }), 201);
    const marked = await json(await t.api(`${cms}/held`, { method: 'DELETE' }), 200);
    expect(marked.metadata.deletionTimestamp).toBeTruthy();
    const still = await json(await t.api(`${cms}/held`), 200);
    expect(still.metadata.deletionTimestamp).toBeTruthy();
    expect(still.metadata.finalizers).toEqual(['example.com/hold']);
    await json(await t.api(`${cms}/held`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ metadata: { finalizers: null } }) }), 200);
    await eventually(async () => (await t.api(`${cms}/held`)).status === 404, 10_000, 'the object gone with its last finalizer');
  });

  it('deletes the dependents of a deleted owner (ownerReferences, garbage collection)', async () => {
    const owner = await json(await t.api(cms, { method: 'POST', json: { metadata: { name: 'owner' } } }), 201);
    await json(await t.api(cms, {
      method: 'POST',
      json: { metadata: { name: 'dependent', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata.uid }] } },
    }), 201);
    await json(await t.api(`${cms}/owner`, { method: 'DELETE', json: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' } }), 200);
    // In a cluster the controller manager's collector does it once its informers synced.
    await eventually(async () => (await t.api(`${cms}/dependent`)).status === 404, 90_000, 'the dependent collected');
  }, 120_000);

  it('serves kubectl and @kubernetes/client-node', async () => {
    const out = await new Promise<string>((resolve, reject) => {
      execFile('kubectl', ['--kubeconfig', t.kubeconfigPath, '-n', ns, 'create', 'configmap', 'from-kubectl', '--from-literal=k=v', '-o', 'json'], { timeout: 30_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
    });
    expect((JSON.parse(out) as Obj).data).toEqual({ k: 'v' });
    const listed = await new Promise<string>((resolve, reject) => {
      execFile('kubectl', ['--kubeconfig', t.kubeconfigPath, 'get', 'groups.iam.mortise.io', '-o', 'name'], { timeout: 30_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
    });
    expect(typeof listed).toBe('string');
    const core = t.kubeConfig.makeApiClient(k8s.CoreV1Api);
    const cm = await core.readNamespacedConfigMap({ name: 'from-kubectl', namespace: ns });
    expect(cm.data).toEqual({ k: 'v' });
    const custom = t.kubeConfig.makeApiClient(k8s.CustomObjectsApi);
    const created = await custom.createClusterCustomObject({ group: 'iam.mortise.io', version: 'v1alpha1', plural: 'groups', body: { apiVersion: 'iam.mortise.io/v1alpha1', kind: 'Group', metadata: { name: `client-node-${mode}` }, spec: {} } }) as Obj;
    expect(created.metadata.uid).toBeTruthy();
    const names = ((await custom.listClusterCustomObject({ group: 'iam.mortise.io', version: 'v1alpha1', plural: 'groups' })) as Obj).items!.map((o) => o.metadata.name);
    expect(names).toContain(`client-node-${mode}`);
  });

  it("reaches the cluster's own API at /clusters/host as Mortise's RBAC allows, as the impersonated user whom the cluster's RBAC checks too (404 without a cluster)", async () => {
    const res = await t.api('/clusters/host/api/v1/namespaces/kube-system');
    if (mode === 'embedded') {
      expect((await json(res, 404)).kind).toBe('Status');
      return;
    }
    // The cluster sees the Mortise user (impersonated, prefixed "mortise:"): the admin Mortise
    // allows is refused by the cluster itself until the cluster binds it.
    const refused = await json(res, 403);
    expect(refused.message).toContain('User "mortise:admin" cannot get resource "namespaces"');
    // (Not the stock `view`: it is aggregated by a controller this control plane does not run.)
    const role = await cluster!.api('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'mortise-test-reader' },
      rules: [{ apiGroups: [''], resources: ['namespaces', 'pods'], verbs: ['get', 'list', 'watch'] }],
    });
    expect(role.status).toBe(201);
    const bind = await cluster!.api('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'mortise-admin-reads' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'mortise-test-reader' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'mortise:admin' }],
    });
    expect(bind.status).toBe(201);
    // The cluster's RBAC authorizer reads bindings through informers: in effect a moment later.
    await eventually(async () => (await t.api('/clusters/host/api/v1/namespaces/kube-system')).status === 200, 10_000, 'the binding in effect');
    expect((await json(await t.api('/clusters/host/api/v1/namespaces/kube-system'), 200)).metadata.name).toBe('kube-system');
    const pods = await json(await t.api('/clusters/host/api/v1/namespaces/kube-system/pods'), 200);
    expect(pods.kind).toBe('PodList');
    // Nor what the binding does not grant; and a client cannot choose whom the cluster sees (the
    // core refuses a request carrying Impersonate-* headers before anything is forwarded).
    expect((await json(await t.api('/clusters/host/api/v1/namespaces/kube-system/secrets'), 403)).message).toContain('User "mortise:admin" cannot list resource "secrets"');
    const spoofed = await t.api('/clusters/host/api/v1/namespaces/kube-system/secrets', { headers: { 'impersonate-user': 'system:admin', 'impersonate-group': 'system:masters' } });
    expect((await json(spoofed, 403)).message).toContain('cannot impersonate');
    // A user Mortise's RBAC grants nothing is refused before the cluster is asked.
    await json(await t.api('/apis/iam.mortise.io/v1alpha1/users', { method: 'POST', json: { apiVersion: 'iam.mortise.io/v1alpha1', kind: 'User', metadata: { name: 'nobody' }, spec: { email: 'nobody@example.com', password: 'nobody-password-1' } } }), 201);
    const token = await login(t.url, 'nobody', 'nobody-password-1');
    const denied = await fetch(`${t.url}/clusters/host/api/v1/namespaces/kube-system`, { headers: { authorization: `Bearer ${token}` } });
    expect((await json(denied, 403)).message).not.toContain('mortise:nobody');

    // With MORTISE_HOST_CLUSTER_IDENTITY=core the cluster sees the core's own identity instead.
    const asCore = await startTestCore({ inMemory: true, mode: 'kubernetes', kubeconfig: cluster!.kubeconfigPath, namespace: 'mortise-system', hostClusterIdentity: 'core' });
    try {
      expect((await json(await asCore.api('/clusters/host/api/v1/namespaces/kube-system/secrets'), 200)).kind).toBe('SecretList');
    } finally {
      await asCore.close();
    }
  }, 60_000);
});
