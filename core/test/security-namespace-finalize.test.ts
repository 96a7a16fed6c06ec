import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestCore, type TestCore } from './support/test-core.js';
import { tenantsOf } from './support/tenants.js';

// Security: a namespace goes only once it is empty. Its "kubernetes" finalizer is what makes the
// namespace controller delete everything in it first; a namespace admin who took it off through
// /finalize and then deleted the namespace left its Roles, RoleBindings and Secrets in the store,
// and whoever next created a namespace of that name (another workspace's member) found them in
// force there: the old admin read the new tenant's Secrets.

const iam = '/apis/iam.mortise.io/v1alpha1';
const kapis = '/kapis/tenant.mortise.io/v1alpha1';
const merge = { 'content-type': 'application/merge-patch+json' };
type Ns = { metadata: { deletionTimestamp?: string }; spec?: { finalizers?: string[] } };

describe('a namespace is never removed with objects left in it', () => {
  let t: TestCore;
  const { as, created, addUsers, addWorkspaces } = tenantsOf(() => t);
  const finalize = (u: string, ns: string, finalizers: string[], query = '') =>
    as(u)(`/api/v1/namespaces/${ns}/finalize${query}`, { method: 'PUT', json: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns }, spec: { finalizers } } });
  const namespace = async (ns: string) => (await (await t.api(`/api/v1/namespaces/${ns}`)).json()) as Ns;

  beforeAll(async () => {
    t = await startTestCore({ inMemory: true });
    await addUsers('alice', 'bob');
    await addWorkspaces({ wsa: 'alice', wsb: 'bob' });
  });
  afterAll(async () => t?.close());

  it('the finalizer cannot be taken off a live namespace; dry run writes nothing; other finalizers are the caller\'s', async () => {
    await created(`${kapis}/workspaces/wsa/namespaces`, { metadata: { name: 'live' } }, 'alice');
    const refused = await finalize('alice', 'live', []);
    expect(refused.status, await refused.clone().text()).toBe(422);
    expect(((await refused.json()) as { message: string }).message).toMatch(/kubernetes.*namespace controller/);
    expect((await namespace('live')).spec?.finalizers).toEqual(['kubernetes']);

    const dry = await finalize('alice', 'live', ['kubernetes', 'example.com/mine'], '?dryRun=All');
    expect(dry.status).toBe(200);
    expect(((await dry.json()) as Ns).spec?.finalizers).toEqual(['kubernetes', 'example.com/mine']);
    expect((await namespace('live')).spec?.finalizers).toEqual(['kubernetes']);

    expect((await finalize('alice', 'live', ['kubernetes', 'example.com/mine'])).status).toBe(200);
    expect((await namespace('live')).spec?.finalizers).toEqual(['kubernetes', 'example.com/mine']);
    expect((await finalize('alice', 'live', ['kubernetes'])).status).toBe(200);
    expect((await namespace('live')).spec?.finalizers).toEqual(['kubernetes']);
  });

  it('nor off a terminating one that still holds objects; a name is free again only once it is empty', async () => {
    await created(`${kapis}/workspaces/wsa/namespaces`, { metadata: { name: 'shared' } }, 'alice');
    await eventually(async () => (await as('alice')('/api/v1/namespaces/shared/secrets')).status === 200, 5000, 'alice admin of shared');
    // A binding of alice's own, and an object held by a finalizer, so that emptying the namespace waits.
    await created(`${iam}/namespaces/shared/rolebindings`, { metadata: { name: 'keep' }, roleRef: { kind: 'Role', name: 'admin' }, subjects: [{ kind: 'User', name: 'alice' }] }, 'alice');
    await created('/api/v1/namespaces/shared/configmaps', { metadata: { name: 'hold', finalizers: ['example.com/hold'] }, data: {} }, 'alice');
    expect((await as('alice')('/api/v1/namespaces/shared', { method: 'DELETE' })).status).toBe(200);
    await eventually(async () => (await namespace('shared')).metadata.deletionTimestamp, 3000, 'terminating');

    const refused = await finalize('alice', 'shared', []);
    expect(refused.status, await refused.clone().text()).toBe(422);
    expect(((await refused.json()) as { message: string }).message).toMatch(/still holds/);
    expect((await t.api('/api/v1/namespaces/shared')).status).toBe(200);
    // So bob cannot have the name while alice's objects are there.
    expect((await as('bob')(`${kapis}/workspaces/wsb/namespaces`, { method: 'POST', json: { metadata: { name: 'shared' } } })).status).toBe(409);

    // The hold released, the namespace controller empties the namespace and lets it go.
    const released = await t.api('/api/v1/namespaces/shared/configmaps/hold', { method: 'PATCH', headers: merge, json: { metadata: { finalizers: null } } });
    expect(released.status, await released.clone().text()).toBe(200);
    await eventually(async () => (await t.api('/api/v1/namespaces/shared')).status === 404, 10_000, 'namespace gone');
    await created(`${kapis}/workspaces/wsb/namespaces`, { metadata: { name: 'shared' } }, 'bob');
    await created('/api/v1/namespaces/shared/secrets', { metadata: { name: 'bobs' }, data: { k: 'c2VjcmV0' } });
    await eventually(async () => (await as('bob')('/api/v1/namespaces/shared/secrets/bobs')).status === 200, 5000, 'bob admin of the new shared');
    expect((await as('alice')('/api/v1/namespaces/shared/secrets')).status).toBe(403);
    expect((await t.api(`${iam}/namespaces/shared/rolebindings/keep`)).status).toBe(404);
  });
  it('a RoleBinding held by a finalizer can be released once its Role is gone, and the namespace goes', async () => {
    await created(`${kapis}/workspaces/wsa/namespaces`, { metadata: { name: 'held' } }, 'alice');
    await eventually(async () => (await as('alice')('/api/v1/namespaces/held/secrets')).status === 200, 5000, 'alice admin of held');
    await created(`${iam}/namespaces/held/rolebindings`, { metadata: { name: 'held-binding', finalizers: ['example.com/hold'] }, roleRef: { kind: 'Role', name: 'viewer' }, subjects: [{ kind: 'User', name: 'bob' }] }, 'alice');
    expect((await as('alice')('/api/v1/namespaces/held', { method: 'DELETE' })).status).toBe(200);
    // The namespace controller deletes the Roles; the binding waits for its finalizer.
    await eventually(async () => (await t.api(`${iam}/namespaces/held/roles/viewer`)).status === 404, 5000, 'roles deleted');
    // Only a finalizer changes (as Kubernetes, the escalation check is for what a binding grants).
    const released = await t.api(`${iam}/namespaces/held/rolebindings/held-binding`, { method: 'PATCH', headers: merge, json: { metadata: { finalizers: null } } });
    expect(released.status, await released.clone().text()).toBe(200);
    await eventually(async () => (await t.api('/api/v1/namespaces/held')).status === 404, 10_000, 'namespace gone');
  });
});
