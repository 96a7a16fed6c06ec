import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestCore, type TestCore } from './support/test-core.js';
import { tenantsOf } from './support/tenants.js';

// Security: a workspace's roles and bindings go with it. They are found by the workspace's name
// (their label), and a workspace of that name created later — by another tenant — found those
// that had outlived the old one in force: a binding its admin had added (no ownerReference), or
// all of them after a delete with propagationPolicy=Orphan. Its old admin was the new one's.
// Now each is owned by its workspace (by uid) whoever writes it, and goes with it; a namespace
// Orphan keeps leaves the workspace.

const label = 'tenant.mortise.io/workspace';
const iam = '/apis/iam.mortise.io/v1alpha1';
const tenant = '/apis/tenant.mortise.io/v1alpha1';
const kapis = '/kapis/tenant.mortise.io/v1alpha1';
type Obj = { metadata: { uid?: string; resourceVersion?: string; ownerReferences?: Array<{ kind: string; name: string; uid: string }> } };

describe('nothing of a deleted workspace is in force in the next workspace of its name', () => {
  let t: TestCore;
  const { as, created, addUsers } = tenantsOf(() => t);
  const get = async (path: string) => (await (await t.api(path)).json()) as Obj;
  const workspaceOf = async (name: string, manager: string) => {
    const ws = await created(`${tenant}/workspaces`, { metadata: { name }, spec: { manager } });
    await eventually(async () => (await as(manager)(`${tenant}/workspaces/${name}`)).status === 200, 5000, `${manager} manages ${name}`);
    return ws;
  };
  const extraBinding = (ws: string, name: string, subject: string) => ({
    metadata: { name }, roleRef: { apiGroup: 'iam.mortise.io', kind: 'WorkspaceRole', name: `${ws}-admin` }, subjects: [{ kind: 'User', apiGroup: 'iam.mortise.io', name: subject }],
  });

  beforeAll(async () => {
    t = await startTestCore({ inMemory: true });
    await addUsers('alice', 'bob');
  });
  afterAll(async () => t?.close());

  it('every workspace role and binding is owned by its workspace, whoever writes it and however', async () => {
    const ws = await workspaceOf('wso', 'alice');
    const viaKapis = await created(`${kapis}/workspaces/wso/workspacerolebindings`, extraBinding('wso', 'wso-extra', 'alice'), 'alice');
    const viaApis = await created(`${iam}/workspacerolebindings`, { ...extraBinding('wso', 'wso-extra2', 'alice'), metadata: { name: 'wso-extra2', labels: { [label]: 'wso' } } });
    const role = await created(`${iam}/workspaceroles`, { metadata: { name: 'wso-custom', labels: { [label]: 'wso' } }, rules: [] });
    for (const o of [viaKapis, viaApis, role]) expect(o.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'Workspace', name: 'wso', uid: ws.metadata.uid })]);
    // Taking the reference off puts it back.
    const put = await as('alice')(`${iam}/workspacerolebindings/wso-extra`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { metadata: { ownerReferences: null } } });
    expect(put.status, await put.clone().text()).toBe(200);
    expect(((await put.json()) as Obj).metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'Workspace', uid: ws.metadata.uid })]);
  });

  it('deleted with propagationPolicy=Orphan, a workspace takes its roles and bindings with it; its namespaces are kept, out of any workspace', async () => {
    await workspaceOf('wsp', 'alice');
    await created(`${kapis}/workspaces/wsp/workspacerolebindings`, extraBinding('wsp', 'wsp-extra', 'alice'), 'alice');
    await created(`${kapis}/workspaces/wsp/namespaces`, { metadata: { name: 'wsp-ns' } }, 'alice');
    await created('/api/v1/namespaces/wsp-ns/secrets', { metadata: { name: 'kept' }, data: { k: 'a2VwdA==' } });
    await eventually(async () => (await as('alice')('/api/v1/namespaces/wsp-ns/secrets')).status === 200, 5000, 'alice in wsp-ns');
    // A user's write taking the workspace's reference off its namespace puts it back (leaving a workspace is a move).
    const off = await as('alice')('/api/v1/namespaces/wsp-ns', { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { metadata: { ownerReferences: null } } });
    expect(off.status, await off.clone().text()).toBe(200);
    expect(((await off.json()) as Obj).metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'Workspace', name: 'wsp' })]);

    const res = await as('alice')(`${tenant}/workspaces/wsp?propagationPolicy=Orphan`, { method: 'DELETE' });
    expect(res.status, await res.clone().text()).toBe(200);
    await eventually(async () => (await t.api(`${tenant}/workspaces/wsp`)).status === 404, 5000, 'workspace gone');
    for (const path of [`${iam}/workspacerolebindings/wsp-extra`, `${iam}/workspacerolebindings/wsp-alice-admin`, `${iam}/workspaceroles/wsp-admin`]) {
      await eventually(async () => (await t.api(path)).status === 404, 10_000, `${path} gone`);
    }
    // The namespace and what it holds are kept, as Orphan asks, but it is in no workspace now.
    const ns = (await get('/api/v1/namespaces/wsp-ns')) as Obj & { metadata: { labels?: Record<string, string>; deletionTimestamp?: string } };
    expect(ns.metadata.deletionTimestamp).toBeUndefined();
    expect(ns.metadata.labels?.[label]).toBeUndefined();
    expect(ns.metadata.ownerReferences ?? []).toEqual([]);
    expect((await t.api('/api/v1/namespaces/wsp-ns/secrets/kept')).status).toBe(200);
    // (Its own RoleBindings are kept with it: its creator, alice, is still its admin there.)

    // The next workspace of that name, another tenant's, does not get it.
    await workspaceOf('wsp', 'bob');
    expect((await as('bob')('/api/v1/namespaces/wsp-ns/secrets')).status).toBe(403);
    const listed = (await (await as('bob')(`${kapis}/workspaces/wsp/namespaces`)).json()) as { items: Array<{ metadata: { name: string } }> };
    expect(listed.items.map((n) => n.metadata.name)).not.toContain('wsp-ns');
  });

  it('the old admin holds nothing in a new workspace of the same name', async () => {
    await workspaceOf('wsx', 'alice');
    await created(`${kapis}/workspaces/wsx/workspacerolebindings`, extraBinding('wsx', 'evil', 'alice'), 'alice');
    expect((await as('alice')(`${tenant}/workspaces/wsx`, { method: 'DELETE' })).status).toBe(200);
    await eventually(async () => (await t.api(`${tenant}/workspaces/wsx`)).status === 404, 5000, 'workspace gone');
    await eventually(async () => (await t.api(`${iam}/workspacerolebindings/evil`)).status === 404, 5000, 'its bindings gone');

    await workspaceOf('wsx', 'bob');
    await created(`${kapis}/workspaces/wsx/namespaces`, { metadata: { name: 'bobns' } }, 'bob');
    await created('/api/v1/namespaces/bobns/secrets', { metadata: { name: 'bobs' }, data: { k: 'c2VjcmV0' } });
    await eventually(async () => (await as('bob')('/api/v1/namespaces/bobns/secrets')).status === 200, 5000, 'bob in bobns');
    expect((await as('alice')('/api/v1/namespaces/bobns/secrets')).status).toBe(403);
    expect((await as('alice')(`${tenant}/workspaces/wsx`)).status).toBe(403);
  });
});
