import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, eventually, login, startTestCore, type TestCore } from './support/test-core.js';

// Security: a workspace's quota bounds its own admins (how many namespaces they may make or move
// in), so it is set above them: its admin, who may update the Workspace, raised it at will. As
// Kubernetes' `admin` role reads a namespace's ResourceQuota but cannot write it, changing
// spec.quota takes `update workspaces` at the global scope.

const iam = '/apis/iam.mortise.io/v1alpha1';
const tenant = '/apis/tenant.mortise.io/v1alpha1';
const kapis = '/kapis/tenant.mortise.io/v1alpha1';
const merge = { 'content-type': 'application/merge-patch+json' };

describe('a workspace admin cannot change its own quota', () => {
  let t: TestCore;
  let bob = '';
  const asBob = (path: string, init: RequestInit & { json?: unknown } = {}) => call(t.url, bob, path, init);

  beforeAll(async () => {
    t = await startTestCore({ inMemory: true });
    expect((await t.api(`${iam}/users`, { method: 'POST', json: { metadata: { name: 'bob' }, spec: { email: 'bob@example.com', password: 'bob-Password-9x' } } })).status).toBe(201);
    bob = await login(t.url, 'bob', 'bob-Password-9x');
    expect((await t.api(`${tenant}/workspaces`, { method: 'POST', json: { metadata: { name: 'wsq' }, spec: { manager: 'bob', quota: { hard: { namespaces: '1' } } } } })).status).toBe(201);
    await eventually(async () => (await asBob(`${tenant}/workspaces/wsq`)).status === 200, 5000, 'bob manages wsq');
  });
  afterAll(async () => t?.close());

  it('refuses the admin\'s change of spec.quota (patch, update, apply), keeps the rest of the spec theirs', async () => {
    const patched = await asBob(`${tenant}/workspaces/wsq`, { method: 'PATCH', headers: merge, json: { spec: { quota: { hard: { namespaces: '100' } } } } });
    expect(patched.status, await patched.clone().text()).toBe(403);
    expect(((await patched.json()) as { message: string }).message).toContain('spec.quota');
    const removed = await asBob(`${tenant}/workspaces/wsq`, { method: 'PATCH', headers: merge, json: { spec: { quota: null } } });
    expect(removed.status).toBe(403);
    const current = (await (await asBob(`${tenant}/workspaces/wsq`)).json()) as { spec: Record<string, unknown> };
    expect((await asBob(`${tenant}/workspaces/wsq`, { method: 'PUT', json: { ...current, spec: { ...current.spec, quota: { hard: { namespaces: '9' } } } } })).status).toBe(403);
    const applied = await asBob(`${tenant}/workspaces/wsq?fieldManager=bob&force=true`, { method: 'PATCH', headers: { 'content-type': 'application/apply-patch+yaml' }, body: JSON.stringify({ apiVersion: 'tenant.mortise.io/v1alpha1', kind: 'Workspace', metadata: { name: 'wsq' }, spec: { quota: { hard: { namespaces: '7' } } } }) });
    expect(applied.status).toBe(403);
    expect(((await (await t.api(`${tenant}/workspaces/wsq`)).json()) as { spec: { quota: unknown } }).spec.quota).toEqual({ hard: { namespaces: '1' } });
    // The quota holds.
    expect((await asBob(`${kapis}/workspaces/wsq/namespaces`, { method: 'POST', json: { metadata: { name: 'q1' } } })).status).toBe(201);
    expect((await asBob(`${kapis}/workspaces/wsq/namespaces`, { method: 'POST', json: { metadata: { name: 'q2' } } })).status).toBe(403);
    // Other fields of the spec stay the admin's.
    expect((await asBob(`${tenant}/workspaces/wsq`, { method: 'PATCH', headers: merge, json: { spec: { description: 'ours' } } })).status).toBe(200);
    // The platform admin sets it.
    expect((await t.api(`${tenant}/workspaces/wsq`, { method: 'PATCH', headers: merge, json: { spec: { quota: { hard: { namespaces: '2' } } } } })).status).toBe(200);
    expect((await asBob(`${kapis}/workspaces/wsq/namespaces`, { method: 'POST', json: { metadata: { name: 'q2' } } })).status).toBe(201);
  });
});
