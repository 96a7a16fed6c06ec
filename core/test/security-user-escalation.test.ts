import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, login, startTestCore, type TestCore } from './support/test-core.js';
import { tenantsOf } from './support/tenants.js';

// Security: writing a User is granting what the user will hold. A user's groups are subjects of
// bindings (spec.groups: ["platform-admin"] is the platform-admin role), and its password is the
// key to everything it holds. A holder of the users-manage RoleTemplate put themselves in the
// platform-admin group, or set the admin's password, past the escalation rule: nobody grants, or
// takes over, what they do not hold (unless they hold `escalate` on users).

const iam = '/apis/iam.mortise.io/v1alpha1';
const merge = { 'content-type': 'application/merge-patch+json' };

describe('writing a User grants nothing its writer does not hold', () => {
  let t: TestCore;
  const { tokens, as, created, addUsers } = tenantsOf(() => t);
  const patchUser = (who: string, name: string, spec: Record<string, unknown>) => as(who)(`${iam}/users/${name}`, { method: 'PATCH', headers: merge, json: { spec } });

  beforeAll(async () => {
    t = await startTestCore({ inMemory: true });
    await addUsers('uma', 'bob');
    await created(`${iam}/globalroles`, { metadata: { name: 'user-admins' }, aggregationRoleTemplates: { templateNames: ['core-users-manage', 'core-users-view'] } });
    await created(`${iam}/globalrolebindings`, { metadata: { name: 'uma-users' }, roleRef: { apiGroup: 'iam.mortise.io', kind: 'GlobalRole', name: 'user-admins' }, subjects: [{ kind: 'User', name: 'uma' }] });
    await created('/api/v1/namespaces', { metadata: { name: 'bobs' } });
    await eventually(async () => (await t.api(`${iam}/namespaces/bobs/roles/admin`)).status === 200, 5000, 'namespace roles');
    await created(`${iam}/namespaces/bobs/rolebindings`, { metadata: { name: 'bob-admin' }, roleRef: { kind: 'Role', name: 'admin' }, subjects: [{ kind: 'User', name: 'bob' }] });
    await eventually(async () => (await as('uma')(`${iam}/users`)).status === 200 && (await as('bob')('/api/v1/namespaces/bobs/secrets')).status === 200, 5000, 'bindings in force');
  });
  afterAll(async () => t?.close());

  it('refuses putting a user (oneself too) in a group that holds more than the writer', async () => {
    for (const target of ['uma', 'bob']) {
      const res = await patchUser('uma', target, { groups: ['platform-admin'] });
      expect(res.status, await res.clone().text()).toBe(403);
      expect(((await res.json()) as { message: string }).message).toMatch(/group "platform-admin"/);
    }
    expect((await as('uma')('/api/v1/secrets')).status).toBe(403);
    // Through a GroupBinding, for whoever may write those, the same.
    await created(`${iam}/globalroles`, { metadata: { name: 'group-binders' }, rules: [{ apiGroups: ['iam.mortise.io'], resources: ['groupbindings'], verbs: ['create'] }] });
    await created(`${iam}/globalrolebindings`, { metadata: { name: 'uma-groups' }, roleRef: { apiGroup: 'iam.mortise.io', kind: 'GlobalRole', name: 'group-binders' }, subjects: [{ kind: 'User', name: 'uma' }] });
    await eventually(async () => (await as('uma')('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', { method: 'POST', json: { spec: { resourceAttributes: { group: 'iam.mortise.io', resource: 'groupbindings', verb: 'create' } } } }).then((r) => r.json() as Promise<{ status: { allowed: boolean } }>)).status.allowed, 5000, 'uma may create groupbindings');
    const gb = await as('uma')(`${iam}/groupbindings`, { method: 'POST', json: { metadata: { name: 'uma-admins' }, groupRef: { apiGroup: 'iam.mortise.io', kind: 'Group', name: 'platform-admin' }, users: ['uma'] } });
    expect(gb.status, await gb.clone().text()).toBe(403);
    expect((await as('uma')('/api/v1/secrets')).status).toBe(403);
  });

  it('refuses taking over a user who holds more: its password, its groups', async () => {
    for (const target of ['admin', 'bob']) {
      const res = await patchUser('uma', target, { password: 'taken-over-Password-1' });
      expect(res.status, `${target}: ${await res.clone().text()}`).toBe(403);
      expect(((await res.json()) as { message: string }).message).toContain(`"${target}"`);
    }
    expect(tokens.bob && (await login(t.url, 'bob', 'bob-Password-9x'))).toBeTruthy();
  });

  it('refuses creating a service account whose name bindings elsewhere already grant (a namespace name used again)', async () => {
    // A namespace "reuse" once had a service account "bot", bound in bob's namespace; now carol administers a new "reuse".
    await created('/api/v1/namespaces', { metadata: { name: 'reuse' } });
    await eventually(async () => (await t.api(`${iam}/namespaces/reuse/roles/admin`)).status === 200, 5000, 'namespace roles');
    await addUsers('carol');
    await created(`${iam}/namespaces/reuse/rolebindings`, { metadata: { name: 'carol-admin' }, roleRef: { kind: 'Role', name: 'admin' }, subjects: [{ kind: 'User', name: 'carol' }] });
    await created(`${iam}/namespaces/bobs/rolebindings`, { metadata: { name: 'old-bot' }, roleRef: { kind: 'Role', name: 'viewer' }, subjects: [{ kind: 'User', name: 'system:serviceaccount:reuse:bot' }] });
    await eventually(async () => (await as('carol')(`${iam}/namespaces/reuse/serviceaccounts`)).status === 200, 5000, 'carol admin of reuse');
    const refused = await as('carol')(`${iam}/namespaces/reuse/serviceaccounts`, { method: 'POST', json: { metadata: { name: 'bot' } } });
    expect(refused.status, await refused.clone().text()).toBe(403);
    expect(((await refused.json()) as { message: string }).message).toContain('system:serviceaccount:reuse:bot');
    expect((await as('carol')(`${iam}/namespaces/reuse/serviceaccounts`, { method: 'POST', json: { metadata: { name: 'fresh' } } })).status).toBe(201);
  });

  it('still lets the writer manage users who hold no more than they do, and everyone change their own password', async () => {
    const res = await as('uma')(`${iam}/users`, { method: 'POST', json: { metadata: { name: 'newbie' }, spec: { email: 'newbie@example.com', password: 'newbie-Password-9x' } } });
    expect(res.status, await res.clone().text()).toBe(201);
    expect((await patchUser('uma', 'newbie', { password: 'newbie-Password-10x', displayName: 'New' })).status).toBe(200);
    expect((await patchUser('uma', 'newbie', { groups: ['nobody-binds-this'] })).status).toBe(200);
    expect((await as('uma')(`${iam}/users/newbie`, { method: 'DELETE' })).status).toBe(200);
    const own = await as('bob')('/kapis/iam.mortise.io/v1alpha1/users/bob/password', { method: 'POST', json: { currentPassword: 'bob-Password-9x', password: 'bob-Password-10x' } });
    expect(own.status, await own.clone().text()).toBeLessThan(300);
    // The platform admin holds everything.
    expect((await t.api(`${iam}/users/bob`, { method: 'PATCH', headers: merge, json: { spec: { groups: ['platform-admin'] } } })).status).toBe(200);
  });
});
