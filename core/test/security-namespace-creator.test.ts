import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, login, startTestCore, type TestCore } from './support/test-core.js';
import { tenantsOf } from './support/tenants.js';

// Security: the namespace's creator annotation makes the namespace-roles controller bind that user
// to the namespace's admin Role (at creation, and again at every resync and start). It is the
// server's: only a namespace's creation sets it, to the caller. A namespace operator who wrote it
// on the Namespace (which their Role lets them patch) became the namespace's admin at the next
// resync, past the escalation rule.

const label = 'tenant.mortise.io/workspace';
const creator = 'tenant.mortise.io/creator';
const iam = '/apis/iam.mortise.io/v1alpha1';
const tenant = '/apis/tenant.mortise.io/v1alpha1';
const kapis = '/kapis/tenant.mortise.io/v1alpha1';
const merge = { 'content-type': 'application/merge-patch+json' };

describe('the namespace creator annotation is the server\'s', () => {
  let dataDir: string;
  let t: TestCore;
  const { tokens, as, created, addUsers } = tenantsOf(() => t);
  const annotationsOf = async (ns: string) => ((await (await t.api(`/api/v1/namespaces/${ns}`)).json()) as { metadata: { annotations?: Record<string, string> } }).metadata.annotations ?? {};

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'creator-test-'));
    t = await startTestCore({ dataDir });
    await addUsers('olga', 'wanda');
    await created(`${tenant}/workspaces`, { metadata: { name: 'wsc' }, spec: { manager: 'admin' } });
    // wanda may create namespaces in wsc (a regular member); olga operates c1.
    await eventually(async () => (await t.api(`${iam}/workspaceroles/wsc-regular`)).status === 200, 5000, 'workspace roles');
    await created(`${iam}/workspacerolebindings`, {
      metadata: { name: 'wsc-wanda', labels: { [label]: 'wsc' } }, roleRef: { apiGroup: 'iam.mortise.io', kind: 'WorkspaceRole', name: 'wsc-regular' }, subjects: [{ kind: 'User', name: 'wanda' }],
    });
    await created('/api/v1/namespaces', { metadata: { name: 'c1', labels: { [label]: 'wsc' } } });
    await eventually(async () => (await t.api(`${iam}/namespaces/c1/roles/operator`)).status === 200, 5000, 'namespace roles');
    await created(`${iam}/namespaces/c1/rolebindings`, { metadata: { name: 'olga-operator' }, roleRef: { kind: 'Role', name: 'operator' }, subjects: [{ kind: 'User', name: 'olga' }] });
    await eventually(async () => (await as('olga')('/api/v1/namespaces/c1/configmaps')).status === 200, 5000, 'olga operates c1');
  });
  afterAll(async () => {
    await t?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('an operator cannot write it onto the namespace, by patch or by update; other annotations still change', async () => {
    const patched = await as('olga')('/api/v1/namespaces/c1', { method: 'PATCH', headers: merge, json: { metadata: { annotations: { [creator]: 'olga' } } } });
    expect(patched.status, await patched.clone().text()).toBe(422);
    expect(((await patched.json()) as { message: string }).message).toContain(creator);
    const current = (await (await as('olga')('/api/v1/namespaces/c1')).json()) as { metadata: Record<string, unknown> };
    const put = await as('olga')('/api/v1/namespaces/c1', { method: 'PUT', json: { ...current, metadata: { ...current.metadata, annotations: { [creator]: 'olga' } } } });
    expect(put.status).toBe(422);
    expect(await annotationsOf('c1')).not.toHaveProperty(creator);
    const other = await as('olga')('/api/v1/namespaces/c1', { method: 'PATCH', headers: merge, json: { metadata: { annotations: { note: 'fine' } } } });
    expect(other.status).toBe(200);
  });

  it('creating a namespace names the caller only; the creator may give it up', async () => {
    // Through the workspace's API the annotation is the caller, whatever the body says.
    const res = await as('wanda')(`${kapis}/workspaces/wsc/namespaces`, { method: 'POST', json: { metadata: { name: 'c2', annotations: { [creator]: 'olga' } } } });
    expect(res.status, await res.clone().text()).toBe(201);
    expect((await annotationsOf('c2'))[creator]).toBe('wanda');
    // Written by hand, it must name whoever creates the namespace.
    const forged = await t.api('/api/v1/namespaces', { method: 'POST', json: { metadata: { name: 'c3', annotations: { [creator]: 'olga' } } } });
    expect(forged.status).toBe(422);
    expect((await t.api('/api/v1/namespaces/c3')).status).toBe(404);
    await created('/api/v1/namespaces', { metadata: { name: 'c4', annotations: { [creator]: 'admin' } } });
    // Changing it to someone else is refused; removing it (no more re-grant of admin) is not.
    await eventually(async () => (await as('wanda')('/api/v1/namespaces/c2')).status === 200, 5000, 'wanda admin of c2');
    expect((await as('wanda')('/api/v1/namespaces/c2', { method: 'PATCH', headers: merge, json: { metadata: { annotations: { [creator]: 'olga' } } } })).status).toBe(422);
    expect((await as('wanda')('/api/v1/namespaces/c2', { method: 'PATCH', headers: merge, json: { metadata: { annotations: { [creator]: null } } } })).status).toBe(200);
  });

  it('after a restart (the controller\'s resync) the operator is still no admin', async () => {
    await t.close();
    t = await startTestCore({ dataDir });
    tokens.olga = await login(t.url, 'olga', 'olga-Password-9x');
    await eventually(async () => (await t.api(`${iam}/namespaces/c1/roles/admin`)).status === 200, 5000, 'controllers ran');
    expect((await t.api(`${iam}/namespaces/c1/rolebindings/olga-admin`)).status).toBe(404);
    const grant = await as('olga')(`${iam}/namespaces/c1/rolebindings`, { method: 'POST', json: { metadata: { name: 'olga-grants' }, roleRef: { kind: 'Role', name: 'admin' }, subjects: [{ kind: 'User', name: 'olga' }] } });
    expect(grant.status).toBe(403);
  });
});
