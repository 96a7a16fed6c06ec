import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, eventually, kubeConfigFor, login, startTestCore, type TestCore } from './support/test-core.js';

const run = promisify(execFile);
const iam = '/apis/iam.mortise.io/v1alpha1';
const tenant = '/apis/tenant.mortise.io/v1alpha1';
const kapis = '/kapis/tenant.mortise.io/v1alpha1';

describe('RBAC, workspaces and reviews', () => {
  let t: TestCore;
  const tokens: Record<string, string> = {};
  const as = (user: string) => (path: string, init: RequestInit & { json?: unknown } = {}) => call(t.url, tokens[user], path, init);

  async function user(name: string) {
    const res = await t.api(`${iam}/users`, { method: 'POST', json: { apiVersion: 'iam.mortise.io/v1alpha1', kind: 'User', metadata: { name }, spec: { email: `${name}@example.com`, password: `${name}-password-1` } } });
    expect(res.status).toBe(201);
    tokens[name] = await login(t.url, name, `${name}-password-1`);
  }

  beforeAll(async () => {
    t = await startTestCore({ inMemory: true });
    for (const u of ['bob', 'carol', 'dave', 'erin', 'frank']) await user(u);
    const res = await t.api(`${tenant}/workspaces`, { method: 'POST', json: { apiVersion: 'tenant.mortise.io/v1alpha1', kind: 'Workspace', metadata: { name: 'ws1' }, spec: { manager: 'bob' } } });
    expect(res.status).toBe(201);
    expect((await t.api(`${tenant}/workspaces`, { method: 'POST', json: { metadata: { name: 'ws2' } } })).status).toBe(201);
    // The workspace controller makes the built-in roles and the manager's binding.
    await eventually(async () => (await t.api(`${iam}/workspacerolebindings/ws1-bob-admin`)).status === 200, 5000, 'manager binding');
  });
  afterAll(async () => t?.close());

  it('seeds the built-in global, workspace and namespace roles', async () => {
    const global = (await (await t.api(`${iam}/globalroles`)).json()) as { items: Array<{ metadata: { name: string } }> };
    expect(global.items.map((r) => r.metadata.name)).toEqual(expect.arrayContaining(['platform-admin', 'platform-regular', 'platform-self-provisioner', 'authenticated']));
    const wsRoles = (await (await t.api(`${iam}/workspaceroles?labelSelector=tenant.mortise.io/workspace%3Dws1`)).json()) as { items: Array<{ metadata: { name: string } }> };
    expect(wsRoles.items.map((r) => r.metadata.name).sort()).toEqual(['ws1-admin', 'ws1-regular', 'ws1-viewer']);
    await t.api('/api/v1/namespaces', { method: 'POST', json: { metadata: { name: 'plain' } } });
    await eventually(async () => {
      const roles = (await (await t.api(`${iam}/namespaces/plain/roles`)).json()) as { items: Array<{ metadata: { name: string } }> };
      return roles.items.map((r) => r.metadata.name).sort().join() === 'admin,operator,viewer';
    }, 5000, 'namespace roles');
  });

  it('denies a user without roles, with a message naming what was denied', async () => {
    const res = await as('dave')(`${tenant}/workspaces`);
    expect(res.status).toBe(403);
    const status = (await res.json()) as { message: string; reason: string };
    expect(status.reason).toBe('Forbidden');
    expect(status.message).toContain('dave cannot list resource "workspaces" in API group "tenant.mortise.io"');
    // ... but every user may read their own User and use discovery.
    expect((await as('dave')(`${iam}/users/dave`)).status).toBe(200);
    expect((await as('dave')(`${iam}/users/bob`)).status).toBe(403);
    expect((await as('dave')('/apis')).status).toBe(200);
  });

  it('lets a workspace manager work in the workspace and nowhere else', async () => {
    const bob = as('bob');
    expect((await bob(`${tenant}/workspaces/ws1`)).status).toBe(200);
    expect((await bob(`${tenant}/workspaces/ws2`)).status).toBe(403);
    const created = await bob(`${kapis}/workspaces/ws1/namespaces`, { method: 'POST', json: { metadata: { name: 'ws1-dev' } } });
    expect(created.status).toBe(201);
    expect((await bob(`${kapis}/workspaces/ws2/namespaces`, { method: 'POST', json: { metadata: { name: 'ws2-dev' } } })).status).toBe(403);
    // In the workspace's namespace bob (workspace admin) may do anything.
    const role = await bob(`${iam}/namespaces/ws1-dev/roles`, { method: 'POST', json: { metadata: { name: 'reader' }, rules: [{ apiGroups: [''], resources: ['namespaces'], verbs: ['get'] }] } });
    expect(role.status).toBe(201);
    // Filtered lists: bob sees ws1 only; the admin sees both.
    const mine = (await (await bob(`${kapis}/workspaces`)).json()) as { items: Array<{ metadata: { name: string } }> };
    expect(mine.items.map((w) => w.metadata.name)).toEqual(['ws1']);
    const all = (await (await t.api(`${kapis}/workspaces`)).json()) as { items: Array<{ metadata: { name: string } }> };
    expect(all.items.map((w) => w.metadata.name).sort()).toEqual(['ws1', 'ws2']);
    const nss = (await (await bob(`${kapis}/workspaces/ws1/namespaces`)).json()) as { items: Array<{ metadata: { name: string } }> };
    expect(nss.items.map((n) => n.metadata.name)).toEqual(['ws1-dev']);
  });

  it('keeps a workspace viewer read-only and out of other workspaces', async () => {
    const bind = await as('bob')(`${kapis}/workspaces/ws1/workspacerolebindings`, {
      method: 'POST', json: { metadata: { name: 'carol-viewer' }, roleRef: { apiGroup: 'iam.mortise.io', kind: 'WorkspaceRole', name: 'ws1-viewer' }, subjects: [{ kind: 'User', apiGroup: 'iam.mortise.io', name: 'carol' }] },
    });
    expect(bind.status).toBe(201);
    const carol = as('carol');
    await eventually(async () => (await carol(`${iam}/namespaces/ws1-dev/roles`)).status === 200, 1000, 'viewer can read');
    expect((await carol(`${iam}/namespaces/ws1-dev/roles`, { method: 'POST', json: { metadata: { name: 'mine' }, rules: [] } })).status).toBe(403);
    expect((await carol(`${iam}/namespaces/ws1-dev/roles/reader`, { method: 'DELETE' })).status).toBe(403);
    expect((await carol(`${tenant}/workspaces/ws2`)).status).toBe(403);
    const members = (await (await carol(`${kapis}/workspaces/ws1/members`)).json()) as { items: Array<{ name: string; roles: string[] }> };
    expect(members.items).toEqual(expect.arrayContaining([{ kind: 'User', name: 'carol', roles: ['ws1-viewer'] }, { kind: 'User', name: 'bob', roles: ['ws1-admin'] }]));
  });

  it('refuses escalation: nobody grants more than they hold', async () => {
    // bob is workspace admin, not platform admin: a global binding is beyond him.
    const global = await as('bob')(`${iam}/globalrolebindings`, { method: 'POST', json: { metadata: { name: 'bob-admin' }, roleRef: { kind: 'GlobalRole', name: 'platform-admin' }, subjects: [{ kind: 'User', name: 'bob' }] } });
    expect(global.status).toBe(403);
    // carol may create bindings in ws1 (a custom role), but not bind a role stronger than hers.
    const binder = await t.api(`${iam}/workspaceroles`, { method: 'POST', json: { metadata: { name: 'ws1-binder', labels: { 'tenant.mortise.io/workspace': 'ws1' } }, rules: [{ apiGroups: ['*'], resources: ['workspacerolebindings'], verbs: ['create'] }, { apiGroups: ['*'], resources: ['*'], verbs: ['get', 'list', 'watch'] }] } });
    expect(binder.status).toBe(201);
    await t.api(`${iam}/workspacerolebindings`, { method: 'POST', json: { metadata: { name: 'carol-binder', labels: { 'tenant.mortise.io/workspace': 'ws1' } }, roleRef: { kind: 'WorkspaceRole', name: 'ws1-binder' }, subjects: [{ kind: 'User', name: 'carol' }] } });
    const escalate = await as('carol')(`${kapis}/workspaces/ws1/workspacerolebindings`, {
      method: 'POST', json: { metadata: { name: 'carol-admin' }, roleRef: { kind: 'WorkspaceRole', name: 'ws1-admin' }, subjects: [{ kind: 'User', name: 'carol' }] },
    });
    expect(escalate.status).toBe(403);
    expect(((await escalate.json()) as { message: string }).message).toContain('attempting to grant permissions not currently held');
    // Binding a role she fully holds is fine.
    const same = await as('carol')(`${kapis}/workspaces/ws1/workspacerolebindings`, {
      method: 'POST', json: { metadata: { name: 'frank-viewer' }, roleRef: { kind: 'WorkspaceRole', name: 'ws1-viewer' }, subjects: [{ kind: 'User', name: 'frank' }] },
    });
    expect(same.status).toBe(201);
    // A role with more than its author holds is refused too (carol may create roles, not escalate).
    await t.api(`${iam}/workspaceroles`, { method: 'POST', json: { metadata: { name: 'ws1-role-maker', labels: { 'tenant.mortise.io/workspace': 'ws1' } }, rules: [{ apiGroups: ['iam.mortise.io'], resources: ['roles'], verbs: ['create'] }] } });
    await t.api(`${iam}/workspacerolebindings`, { method: 'POST', json: { metadata: { name: 'carol-role-maker', labels: { 'tenant.mortise.io/workspace': 'ws1' } }, roleRef: { kind: 'WorkspaceRole', name: 'ws1-role-maker' }, subjects: [{ kind: 'User', name: 'carol' }] } });
    const tooBig = await as('carol')(`${iam}/namespaces/ws1-dev/roles`, { method: 'POST', json: { metadata: { name: 'big' }, rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['delete'] }] } });
    expect(tooBig.status).toBe(403);
    expect(((await tooBig.json()) as { message: string }).message).toContain('delete *');
    const fits = await as('carol')(`${iam}/namespaces/ws1-dev/roles`, { method: 'POST', json: { metadata: { name: 'small' }, rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['get', 'list'] }] } });
    expect(fits.status).toBe(201);
  });

  it('stops a revoked permission within a second', async () => {
    const frank = as('frank');
    await eventually(async () => (await frank(`${tenant}/workspaces/ws1`)).status === 200, 1000, 'frank is a viewer');
    expect((await t.api(`${iam}/workspacerolebindings/frank-viewer`, { method: 'DELETE' })).status).toBe(200);
    const started = Date.now();
    await eventually(async () => (await frank(`${tenant}/workspaces/ws1`)).status === 403, 1000, 'revocation');
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('restores the manager\'s admin binding while spec.manager names them', async () => {
    expect((await t.api(`${iam}/workspacerolebindings/ws1-bob-admin`, { method: 'DELETE' })).status).toBe(200);
    await eventually(async () => (await t.api(`${iam}/workspacerolebindings/ws1-bob-admin`)).status === 200, 5000, 'binding restored');
    await eventually(async () => (await as('bob')(`${tenant}/workspaces/ws1`)).status === 200, 1000, 'bob is admin again');
  });

  it('aggregates RoleTemplates by label, and follows template changes', async () => {
    await t.api(`${iam}/globalroles`, { method: 'POST', json: { metadata: { name: 'user-readers' }, aggregationRoleTemplates: { roleSelector: { matchLabels: { 'iam.mortise.io/aggregate-to': 'user-readers' } } } } });
    await t.api(`${iam}/globalrolebindings`, { method: 'POST', json: { metadata: { name: 'dave-user-readers' }, roleRef: { kind: 'GlobalRole', name: 'user-readers' }, subjects: [{ kind: 'User', name: 'dave' }] } });
    expect((await as('dave')(`${iam}/users`)).status).toBe(403);
    const tpl = await t.api(`${iam}/roletemplates`, { method: 'POST', json: { metadata: { name: 'view-users', labels: { 'iam.mortise.io/aggregate-to': 'user-readers' } }, spec: { rules: [{ apiGroups: ['iam.mortise.io'], resources: ['users'], verbs: ['list'] }] } } });
    expect(tpl.status).toBe(201);
    await eventually(async () => (await as('dave')(`${iam}/users`)).status === 200, 1000, 'aggregated rule');
    await t.api(`${iam}/roletemplates/view-users`, { method: 'DELETE' });
    await eventually(async () => (await as('dave')(`${iam}/users`)).status === 403, 1000, 'template removal');
  });

  it('grants through groups (GroupBinding)', async () => {
    await t.api(`${iam}/groups`, { method: 'POST', json: { metadata: { name: 'auditors' } } });
    await t.api(`${iam}/globalrolebindings`, { method: 'POST', json: { metadata: { name: 'auditors-regular' }, roleRef: { kind: 'GlobalRole', name: 'platform-regular' }, subjects: [{ kind: 'Group', name: 'auditors' }] } });
    expect((await as('erin')('/apis/extensions.mortise.io/v1alpha1/extensions')).status).toBe(403);
    await t.api(`${iam}/groupbindings`, { method: 'POST', json: { metadata: { name: 'auditors-erin' }, groupRef: { name: 'auditors' }, users: ['erin'] } });
    await eventually(async () => (await as('erin')('/apis/extensions.mortise.io/v1alpha1/extensions')).status === 200, 1000, 'group grant');
  });

  it('confines namespace roles to their namespace', async () => {
    await t.api('/api/v1/namespaces', { method: 'POST', json: { metadata: { name: 'other' } } });
    await eventually(async () => (await t.api(`${iam}/namespaces/plain/roles/viewer`)).status === 200, 5000, 'viewer role');
    await t.api(`${iam}/namespaces/plain/rolebindings`, { method: 'POST', json: { metadata: { name: 'frank-viewer' }, roleRef: { kind: 'Role', name: 'viewer' }, subjects: [{ kind: 'User', name: 'frank' }] } });
    await eventually(async () => (await as('frank')(`${iam}/namespaces/plain/roles`)).status === 200, 1000, 'namespace grant');
    expect((await as('frank')(`${iam}/namespaces/other/roles`)).status).toBe(403);
    expect((await as('frank')(`${iam}/namespaces/plain/roles`, { method: 'POST', json: { metadata: { name: 'x' }, rules: [] } })).status).toBe(403);
  });

  it('answers SelfSubjectAccessReview and SelfSubjectRulesReview', async () => {
    const review = async (user: string, attrs: object) => {
      const res = await as(user)('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', { method: 'POST', json: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: attrs } } });
      expect(res.status).toBe(201);
      return ((await res.json()) as { status: { allowed: boolean } }).status.allowed;
    };
    expect(await review('carol', { verb: 'list', group: 'iam.mortise.io', resource: 'roles', namespace: 'ws1-dev' })).toBe(true);
    expect(await review('carol', { verb: 'delete', group: 'iam.mortise.io', resource: 'roles', namespace: 'ws1-dev' })).toBe(false);
    expect(await review('carol', { verb: 'list', group: 'iam.mortise.io', resource: 'roles', namespace: 'plain' })).toBe(false);
    const rules = await as('frank')('/apis/authorization.k8s.io/v1/selfsubjectrulesreviews', { method: 'POST', json: { spec: { namespace: 'plain' } } });
    const body = (await rules.json()) as { status: { resourceRules: Array<{ verbs: string[] }>; nonResourceRules: unknown[] } };
    expect(body.status.resourceRules.some((r) => r.verbs.includes('list'))).toBe(true);
    expect(body.status.nonResourceRules.length).toBeGreaterThan(0);
  });

  it('answers kubectl auth can-i for the admin and for a workspace member', async () => {
    const kubectl = async (token: string, ...args: string[]) => {
      // Beside the test core's own kubeconfig: removed with it.
      const path = join(dirname(t.kubeconfigPath), `kc-${Math.random().toString(36).slice(2)}`);
      writeFileSync(path, kubeConfigFor(t.core, token).exportConfig());
      try {
        const r = await run('kubectl', ['--kubeconfig', path, '--request-timeout=20s', 'auth', 'can-i', ...args]);
        return r.stdout.trim().split(/\s/)[0];
      } catch (e) {
        return ((e as { stdout?: string }).stdout ?? '').trim().split(/\s/)[0];
      }
    };
    expect(await kubectl(t.token, 'create', 'workspaces.tenant.mortise.io')).toBe('yes');
    expect(await kubectl(t.token, 'delete', 'users.iam.mortise.io')).toBe('yes');
    expect(await kubectl(tokens.carol!, 'list', 'roles.iam.mortise.io', '-n', 'ws1-dev')).toBe('yes');
    expect(await kubectl(tokens.carol!, 'delete', 'roles.iam.mortise.io', '-n', 'ws1-dev')).toBe('no');
    expect(await kubectl(tokens.carol!, 'create', 'workspaces.tenant.mortise.io')).toBe('no');
  });

  it('bounds a workspace by its namespace quota', async () => {
    await t.api(`${tenant}/workspaces`, { method: 'POST', json: { metadata: { name: 'small' }, spec: { quota: { hard: { namespaces: '1' } } } } });
    expect((await t.api(`${kapis}/workspaces/small/namespaces`, { method: 'POST', json: { metadata: { name: 'small-a' } } })).status).toBe(201);
    const second = await t.api(`${kapis}/workspaces/small/namespaces`, { method: 'POST', json: { metadata: { name: 'small-b' } } });
    expect(second.status).toBe(403);
    expect(((await second.json()) as { message: string }).message).toContain('exceeded quota');
    const stray = await t.api('/api/v1/namespaces', { method: 'POST', json: { metadata: { name: 'stray', labels: { 'tenant.mortise.io/workspace': 'nope' } } } });
    expect(stray.status).toBe(422);
  });

  it('cascades a workspace deletion to its namespaces and roles', async () => {
    await t.api(`${tenant}/workspaces`, { method: 'POST', json: { metadata: { name: 'doomed' }, spec: { manager: 'erin' } } });
    expect((await t.api(`${kapis}/workspaces/doomed/namespaces`, { method: 'POST', json: { metadata: { name: 'doomed-a' } } })).status).toBe(201);
    await eventually(async () => {
      const ns = (await (await t.api('/api/v1/namespaces/doomed-a')).json()) as { metadata: { ownerReferences?: unknown[] } };
      return (ns.metadata.ownerReferences?.length ?? 0) > 0;
    }, 5000, 'namespace owned by workspace');
    expect((await t.api(`${tenant}/workspaces/doomed`, { method: 'DELETE' })).status).toBeLessThan(300);
    await eventually(async () => (await t.api('/api/v1/namespaces/doomed-a')).status === 404, 10_000, 'namespace deleted');
    await eventually(async () => (await t.api(`${iam}/workspaceroles/doomed-admin`)).status === 404, 10_000, 'workspace roles deleted');
  });
  it('refuses nonResourceURLs outside global roles (422), as Kubernetes does outside ClusterRoles', async () => {
    const rule = { nonResourceURLs: ['/metrics', '/healthz/*'], verbs: ['get'] };
    const scoped = [
      { path: `${iam}/namespaces/ws1-dev/roles`, body: { metadata: { name: 'urls' }, rules: [{ apiGroups: [''], resources: ['namespaces'], verbs: ['get'] }, rule] } },
      { path: `${iam}/workspaceroles`, body: { metadata: { name: 'ws1-urls', labels: { 'tenant.mortise.io/workspace': 'ws1' } }, rules: [{ apiGroups: [''], resources: ['namespaces'], verbs: ['get'] }, rule] } },
    ];
    for (const { path, body } of scoped) {
      const res = await t.api(path, { method: 'POST', json: body });
      const status = (await res.json()) as { reason: string; message: string; details: { causes: Array<{ field: string }> } };
      expect(res.status, path).toBe(422);
      expect(status.details.causes.map((c) => c.field)).toEqual(['rules[1].nonResourceURLs']);
      expect(status.message).toContain('cannot apply to non-resource URLs');
      // Without them the same role is fine, and adding them later is refused the same way.
      expect((await t.api(path, { method: 'POST', json: { ...body, rules: [body.rules[0]] } })).status).toBe(201);
      const named = `${path}/${body.metadata.name}`;
      const patched = await t.api(named, { method: 'PATCH', headers: { 'content-type': 'application/json-patch+json' }, body: JSON.stringify([{ op: 'add', path: '/rules/-', value: rule }]) });
      expect(patched.status).toBe(422);
      expect(((await (await t.api(named)).json()) as { rules: unknown[] }).rules).toHaveLength(1);
    }
    expect((await t.api(`${iam}/globalroles`, { method: 'POST', json: { metadata: { name: 'metrics-reader' }, rules: [rule] } })).status).toBe(201);
  });
});
