import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RequestInfo } from '../src/api/request-info.js';
import { SqliteAuditLog } from '../src/audit/sqlite-audit-log.js';
import type { Authorizer, Decision } from '../src/auth/authorizer.js';
import type { UserInfo } from '../src/http/app-state.js';
import { call, login, startTestCore, workspace, type TestCore } from './support/test-core.js';

// The core composed with another Authorizer and its own AuditLog (DESIGN: explicit interfaces at
// the composition root): access reviews, tenant views and escalation admission ask the
// authorizer handed in, not the built-in RBAC, and requests are recorded in the audit log handed in.

/**
 * An attribute policy, Kubernetes' ABAC in miniature: each user may do the listed verbs on the
 * listed resources (any group, any scope); `*` is any. It cannot enumerate rules (no `rulesFor`).
 */
class AttributePolicyAuthorizer implements Authorizer {
  constructor(private readonly grants: Record<string, Array<{ verb: string; resource: string }>>) {}

  async authorize(user: UserInfo, r: RequestInfo): Promise<Decision> {
    const resource = r.isResourceRequest ? r.resource : r.path;
    const allowed = (this.grants[user.username] ?? []).some((g) => (g.verb === '*' || g.verb === r.verb) && (g.resource === '*' || g.resource === resource));
    return { allowed, reason: allowed ? `the policy grants ${user.username} ${r.verb} ${resource}` : `the policy grants ${user.username} nothing of the kind` };
  }
}

describe('the core with another Authorizer and AuditLog', () => {
  let t: TestCore;
  let auditDir: string;
  let audit: SqliteAuditLog;
  let alice: string;
  let bob: string;

  beforeAll(async () => {
    auditDir = mkdtempSync(join(tmpdir(), 'mortise-seam-audit-'));
    audit = new SqliteAuditLog({ path: join(auditDir, 'audit.db') });
    const authorizer = new AttributePolicyAuthorizer({
      admin: [{ verb: '*', resource: '*' }],
      alice: [
        { verb: 'list', resource: 'workspaces' }, { verb: 'create', resource: 'globalroles' },
        { verb: 'create', resource: 'selfsubjectaccessreviews' }, { verb: 'create', resource: 'selfsubjectrulesreviews' },
      ],
      bob: [{ verb: 'create', resource: 'globalroles' }, { verb: 'escalate', resource: 'globalroles' }],
    });
    t = await startTestCore({ inMemory: true, authorizer, audit });
    for (const name of ['alice', 'bob']) {
      const res = await t.api('/apis/iam.mortise.io/v1alpha1/users', { method: 'POST', json: { apiVersion: 'iam.mortise.io/v1alpha1', kind: 'User', metadata: { name }, spec: { email: `${name}@example.com`, password: `${name}-password-1` } } });
      expect(res.status, await res.text()).toBe(201);
    }
    for (const ws of ['seam-a', 'seam-b']) expect((await t.api('/apis/tenant.mortise.io/v1alpha1/workspaces', { method: 'POST', json: workspace(ws) })).status).toBe(201);
    alice = await login(t.url, 'alice', 'alice-password-1');
    bob = await login(t.url, 'bob', 'bob-password-1');
  }, 60_000);

  afterAll(async () => {
    await t?.close();
    rmSync(auditDir, { recursive: true, force: true });
  });

  const review = async (token: string, verb: string, resource: string) => {
    const res = await call(t.url, token, '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
      method: 'POST', json: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { verb, resource, group: 'tenant.mortise.io' } } },
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { status: { allowed: boolean; reason: string } }).status;
  };

  it('answers a SelfSubjectAccessReview with the authorizer handed in', async () => {
    expect(await review(alice, 'list', 'workspaces')).toEqual({ allowed: true, reason: 'the policy grants alice list workspaces' });
    expect(await review(alice, 'delete', 'workspaces')).toMatchObject({ allowed: false, reason: 'the policy grants alice nothing of the kind' });
  });

  it('answers a SelfSubjectRulesReview as incomplete when the authorizer cannot enumerate rules', async () => {
    const res = await call(t.url, alice, '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews', { method: 'POST', json: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', spec: {} } });
    expect(res.status).toBe(201);
    expect(((await res.json()) as { status: unknown }).status).toEqual({ resourceRules: [], nonResourceRules: [], incomplete: true });
  });

  it('shows the whole workspace list to a user the authorizer lets list workspaces (no RBAC membership needed)', async () => {
    const res = await call(t.url, alice, '/kapis/tenant.mortise.io/v1alpha1/workspaces');
    expect(res.status).toBe(200);
    const names = ((await res.json()) as { items: Array<{ metadata: { name: string } }> }).items.map((w) => w.metadata.name);
    expect(names).toEqual(expect.arrayContaining(['seam-a', 'seam-b']));
  });

  it('refuses a role grant nothing shows is held, and lets a holder of escalate through', async () => {
    const role = (name: string) => ({ apiVersion: 'iam.mortise.io/v1alpha1', kind: 'GlobalRole', metadata: { name }, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }] });
    const denied = await call(t.url, alice, '/apis/iam.mortise.io/v1alpha1/globalroles', { method: 'POST', json: role('seam-alice') });
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { message: string }).message).toMatch(/attempting to grant permissions not currently held/);
    const allowed = await call(t.url, bob, '/apis/iam.mortise.io/v1alpha1/globalroles', { method: 'POST', json: role('seam-bob') });
    expect(allowed.status, await allowed.clone().text()).toBe(201);
  });

  it('records requests in the audit log handed in, with the authorizer\'s reasons', async () => {
    await call(t.url, alice, '/apis/tenant.mortise.io/v1alpha1/workspaces/seam-a', { method: 'DELETE' });
    await audit.flush();
    const page = await audit.query({ user: 'alice', verb: 'delete' });
    expect(page.items[0]).toMatchObject({ verb: 'delete', responseStatus: { code: 403 }, annotations: { decision: 'forbid' } });
    expect(page.items[0]!.annotations!.reason).toMatch(/the policy grants alice nothing of the kind$/);
  });
});
