import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminPassword, call, login, startTestCore, type TestCore } from './support/test-core.js';

// Service-account tokens: long-lived, revocable credentials for machines, subjects of RBAC like
// any user; and SubjectAccessReview, which lets a backend ask about a caller it was forwarded.

const iam = '/apis/iam.mortise.io/v1alpha1';
const sas = (ns: string) => `${iam}/namespaces/${ns}/serviceaccounts`;
const tokensOf = (ns: string, name: string) => `${sas(ns)}/${name}/tokens`;
const rolebindings = (ns: string) => `${iam}/namespaces/${ns}/rolebindings`;

describe('service-account tokens', () => {
  let t: TestCore;
  let bob: string;

  beforeAll(async () => {
    t = await startTestCore({ inMemory: true });
    for (const ns of ['shipping', 'other']) expect((await t.api('/api/v1/namespaces', { method: 'POST', json: { metadata: { name: ns } } })).status).toBe(201);
    expect((await t.api(`${iam}/users`, { method: 'POST', json: { metadata: { name: 'bob' }, spec: { password: 'bob-password-1' } } })).status).toBe(201);
    bob = await login(t.url, 'bob', 'bob-password-1');
  });
  afterAll(async () => t?.close());

  const createAccount = async (ns: string, name: string) =>
    expect((await t.api(sas(ns), { method: 'POST', json: { metadata: { name } } })).status).toBe(201);
  const issue = async (ns: string, name: string, spec: Record<string, unknown> = {}) => {
    const res = await t.api(tokensOf(ns, name), { method: 'POST', json: { spec } });
    const body = (await res.json()) as { metadata: { name: string }; status: { token: string }; spec: Record<string, unknown> };
    expect(res.status, JSON.stringify(body)).toBe(201);
    return body;
  };

  it('a token authenticates as system:serviceaccount:<ns>:<name> and holds exactly what RBAC grants it', async () => {
    await createAccount('shipping', 'shipper');
    const { status, metadata } = await issue('shipping', 'shipper', { description: 'promtail on host-1' });
    expect(status.token).toMatch(/^mst_[0-9a-f]{16}_/);
    expect(metadata.name).toMatch(/^[0-9a-f]{16}$/);

    // Authenticated (403, not 401) but holding nothing yet.
    const before = await call(t.url, status.token, rolebindings('shipping'));
    expect(before.status).toBe(403);
    expect(((await before.json()) as { message: string }).message).toContain('system:serviceaccount:shipping:shipper');

    expect((await t.api(`${iam}/namespaces/shipping/roles`, { method: 'POST', json: { metadata: { name: 'read-bindings' }, rules: [{ apiGroups: ['iam.mortise.io'], resources: ['rolebindings'], verbs: ['list'] }] } })).status).toBe(201);
    expect((await t.api(rolebindings('shipping'), {
      method: 'POST',
      json: { metadata: { name: 'shipper-reads' }, roleRef: { apiGroup: 'iam.mortise.io', kind: 'Role', name: 'read-bindings' }, subjects: [{ kind: 'User', apiGroup: 'iam.mortise.io', name: 'system:serviceaccount:shipping:shipper' }] },
    })).status).toBe(201);
    expect((await call(t.url, status.token, rolebindings('shipping'))).status).toBe(200);
    // Granted in its namespace only.
    expect((await call(t.url, status.token, rolebindings('other'))).status).toBe(403);
  });

  it('lists tokens without their secrets, and a revoked token is refused at once', async () => {
    await createAccount('shipping', 'ci');
    const a = await issue('shipping', 'ci');
    const b = await issue('shipping', 'ci', { expirationSeconds: 3600 });
    const list = (await (await t.api(tokensOf('shipping', 'ci'))).json()) as { items: Array<Record<string, unknown>> };
    expect(list.items.map((i) => (i.metadata as { name: string }).name).sort()).toEqual([a.metadata.name, b.metadata.name].sort());
    expect(JSON.stringify(list)).not.toContain(a.status.token.slice(-20));
    expect(list.items.every((i) => !('status' in i))).toBe(true);
    expect(b.spec.expiresAt).toEqual(expect.any(String));

    const review = { spec: { resourceAttributes: { verb: 'get', resource: 'namespaces' } } };
    expect((await call(t.url, a.status.token, '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', { method: 'POST', json: review })).status).not.toBe(401);
    expect((await t.api(`${tokensOf('shipping', 'ci')}/${a.metadata.name}`, { method: 'DELETE' })).status).toBe(200);
    const revoked = await call(t.url, a.status.token, rolebindings('shipping'));
    expect(revoked.status).toBe(401);
    expect(((await revoked.json()) as { message: string }).message).toMatch(/revoked/);
    // The other token still works; revoking an unknown id is a 404.
    expect((await call(t.url, b.status.token, rolebindings('shipping'))).status).toBe(403);
    expect((await t.api(`${tokensOf('shipping', 'ci')}/${a.metadata.name}`, { method: 'DELETE' })).status).toBe(404);
    expect((await t.api(`${tokensOf('other', 'ci')}/${b.metadata.name}`, { method: 'DELETE' })).status).toBe(404);
  });

  it('deleting the account kills its tokens, and a re-created namesake does not inherit them', async () => {
    await createAccount('shipping', 'temp');
    const { status } = await issue('shipping', 'temp');
    expect((await t.api(`${sas('shipping')}/temp`, { method: 'DELETE' })).status).toBe(200);
    expect((await call(t.url, status.token, rolebindings('shipping'))).status).toBe(401);
    await createAccount('shipping', 'temp');
    const res = await call(t.url, status.token, rolebindings('shipping'));
    expect(res.status).toBe(401);
    expect(((await res.json()) as { message: string }).message).toMatch(/no longer exists/);
  });

  it('refuses forged and malformed tokens, bad input, and issuing without permission', async () => {
    await createAccount('shipping', 'guarded');
    const { status } = await issue('shipping', 'guarded');
    const forged = status.token.slice(0, -4) + (status.token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    expect((await call(t.url, forged, rolebindings('shipping'))).status).toBe(401);
    expect((await call(t.url, 'mst_nothing', rolebindings('shipping'))).status).toBe(401);
    expect((await t.api(tokensOf('shipping', 'guarded'), { method: 'POST', json: { spec: { expirationSeconds: 5 } } })).status).toBe(400);
    expect((await t.api(tokensOf('shipping', 'guarded'), { method: 'POST', json: { spec: { description: 7 } } })).status).toBe(400);
    expect((await t.api(tokensOf('shipping', 'missing'), { method: 'POST', json: {} })).status).toBe(404);
    // bob holds nothing in the namespace: he can neither issue nor list tokens.
    expect((await call(t.url, bob, tokensOf('shipping', 'guarded'), { method: 'POST', json: {} })).status).toBe(403);
    expect((await call(t.url, bob, tokensOf('shipping', 'guarded'))).status).toBe(403);
  });

  it('SubjectAccessReview answers for another subject, and only to those allowed to ask', async () => {
    const ask = (token: string, spec: Record<string, unknown>) => call(t.url, token, '/apis/authorization.k8s.io/v1/subjectaccessreviews', { method: 'POST', json: { spec } });
    const attrs = (ns: string) => ({ resourceAttributes: { namespace: ns, verb: 'list', group: 'iam.mortise.io', resource: 'rolebindings' } });
    const allowed = async (spec: Record<string, unknown>) => {
      const res = await ask(t.token, spec);
      expect(res.status).toBe(201);
      return ((await res.json()) as { status: { allowed: boolean } }).status.allowed;
    };
    expect(await allowed({ user: 'system:serviceaccount:shipping:shipper', groups: [], ...attrs('shipping') })).toBe(true);
    expect(await allowed({ user: 'system:serviceaccount:shipping:shipper', groups: [], ...attrs('other') })).toBe(false);
    expect(await allowed({ user: 'nobody', groups: ['platform-admin'], ...attrs('other') })).toBe(true);
    expect((await ask(t.token, attrs('shipping'))).status).toBe(400);
    expect((await ask(t.token, { user: 'x', groups: 'g', ...attrs('shipping') })).status).toBe(400);
    expect((await ask(bob, { user: 'admin', ...attrs('shipping') })).status).toBe(403);
  });
});
