import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestCore, type TestCore } from './support/test-core.js';
import { readInBackground, type OpenStream } from './support/streams.js';
import { tenantsOf } from './support/tenants.js';

// Security: a watch is authorized when it opens, and again whenever what authorized it changes
// (a binding, a role, a group, the namespace's workspace, the user, the session). One that is no
// longer allowed ends before it sends anything written after the revocation; one still allowed
// keeps streaming without losing an event.

const label = 'tenant.mortise.io/workspace';
const iam = '/apis/iam.mortise.io/v1alpha1';
const tenant = '/apis/tenant.mortise.io/v1alpha1';


describe('a watch ends when its authorization is revoked', () => {
  let t: TestCore;
  const { tokens, as, created, addUsers } = tenantsOf(() => t);
  const streams: OpenStream[] = [];
  let serial = 0;

  const secret = (ns: string, name: string) => created(`/api/v1/namespaces/${ns}/secrets`, { metadata: { name }, data: { k: 'c2VjcmV0' } });
  const removed = async (path: string) => expect((await t.api(path, { method: 'DELETE' })).status, path).toBe(200);

  /** Opens a watch as `u` and reads it in the background. */
  async function watch(u: string, path: string): Promise<OpenStream> {
    const ac = new AbortController();
    const res = await as(u)(path, { signal: ac.signal });
    expect(res.status, `${path}: ${res.status === 200 ? '' : await res.clone().text()}`).toBe(200);
    const s = readInBackground(res, ac);
    streams.push(s);
    return s;
  }

  /** After a revocation: the stream has ended, and a secret written now never reaches it. */
  async function expectEnded(s: OpenStream, ns: string) {
    const after = `after-${++serial}`;
    await secret(ns, after);
    await eventually(() => s.ended(), 3000, 'the watch to end');
    expect(s.text()).not.toContain(after);
  }

  beforeAll(async () => {
    t = await startTestCore({ inMemory: true });
    await addUsers('alice', 'bob', 'carol', 'dave');
    await created(`${tenant}/workspaces`, { metadata: { name: 'wsr' }, spec: { manager: 'admin' } });
    await created('/api/v1/namespaces', { metadata: { name: 'rv-ns', labels: { [label]: 'wsr' } } });
    await created('/api/v1/namespaces', { metadata: { name: 'rv-free' } });
    await eventually(async () => (await t.api(`${iam}/workspaceroles/wsr-viewer`)).status === 200 && (await t.api(`${iam}/namespaces/rv-ns/roles/viewer`)).status === 200 && (await t.api(`${iam}/namespaces/rv-free/roles/viewer`)).status === 200, 5000, 'roles seeded');
    await secret('rv-ns', 'before');
    await secret('rv-free', 'before');
  });
  afterAll(async () => {
    for (const s of streams) s.abort();
    await t?.close();
  });

  it('a RoleBinding removed: the namespace watch ends; one still allowed keeps every event', async () => {
    for (const u of ['alice', 'bob']) {
      await created(`${iam}/namespaces/rv-ns/rolebindings`, { metadata: { name: `${u}-view` }, roleRef: { kind: 'Role', name: 'viewer' }, subjects: [{ kind: 'User', name: u }] });
    }
    await eventually(async () => (await as('alice')('/api/v1/namespaces/rv-ns/secrets')).status === 200 && (await as('bob')('/api/v1/namespaces/rv-ns/secrets')).status === 200, 5000, 'bindings in force');
    const alice = await watch('alice', '/api/v1/namespaces/rv-ns/secrets?watch=1');
    const bob = await watch('bob', '/api/v1/namespaces/rv-ns/secrets?watch=1');
    await eventually(() => alice.text().includes('"before"') && bob.text().includes('"before"'), 3000, 'initial events');

    await removed(`${iam}/namespaces/rv-ns/rolebindings/alice-view`);
    await expectEnded(alice, 'rv-ns');
    // Bob's binding did not change: his watch is open and saw the secret written after the revocation.
    await eventually(() => bob.text().includes(`"after-${serial}"`), 3000, 'bob still sees new secrets');
    expect(bob.ended()).toBe(false);
    // And a new watch is refused.
    expect((await as('alice')('/api/v1/namespaces/rv-ns/secrets?watch=1')).status).toBe(403);
  });

  it('a watch of one object by name ends too', async () => {
    await created(`${iam}/namespaces/rv-free/roles`, { metadata: { name: 'one-secret' }, rules: [{ apiGroups: [''], resources: ['secrets'], resourceNames: ['before'], verbs: ['get', 'list', 'watch'] }] });
    await created(`${iam}/namespaces/rv-free/rolebindings`, { metadata: { name: 'carol-one' }, roleRef: { kind: 'Role', name: 'one-secret' }, subjects: [{ kind: 'User', name: 'carol' }] });
    await eventually(async () => (await as('carol')('/api/v1/namespaces/rv-free/secrets/before')).status === 200, 5000, 'binding in force');
    const s = await watch('carol', '/api/v1/namespaces/rv-free/secrets?watch=1&fieldSelector=metadata.name%3Dbefore');
    await eventually(() => s.text().includes('"before"'), 3000, 'initial event');
    // The Role loses the rule (the binding stays).
    const res = await t.api(`${iam}/namespaces/rv-free/roles/one-secret`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }] } });
    expect(res.status).toBe(200);
    await eventually(() => s.ended(), 3000, 'the watch to end');
    const patched = await t.api('/api/v1/namespaces/rv-free/secrets/before', { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { metadata: { labels: { changed: 'yes' } } } });
    expect(patched.status).toBe(200);
    await new Promise((r) => setTimeout(r, 200));
    expect(s.text()).not.toContain('"changed"');
  });

  it('a WorkspaceRoleBinding removed: the watch of a namespace of the workspace ends', async () => {
    await created(`${iam}/workspacerolebindings`, {
      metadata: { name: 'wsr-dave-viewer', labels: { [label]: 'wsr' } }, roleRef: { apiGroup: 'iam.mortise.io', kind: 'WorkspaceRole', name: 'wsr-viewer' }, subjects: [{ kind: 'User', name: 'dave' }],
    });
    await eventually(async () => (await as('dave')('/api/v1/namespaces/rv-ns/secrets')).status === 200, 5000, 'binding in force');
    const s = await watch('dave', '/api/v1/namespaces/rv-ns/secrets?watch=1');
    await eventually(() => s.text().includes('"before"'), 3000, 'initial event');
    await removed(`${iam}/workspacerolebindings/wsr-dave-viewer`);
    await expectEnded(s, 'rv-ns');
  });

  it('a service account token revoked: the watch it opened ends', async () => {
    const sa = `${iam}/namespaces/rv-free/serviceaccounts`;
    await created(sa, { metadata: { name: 'shipper' } });
    await created(`${iam}/namespaces/rv-free/rolebindings`, { metadata: { name: 'shipper-view' }, roleRef: { kind: 'Role', name: 'viewer' }, subjects: [{ kind: 'User', name: 'system:serviceaccount:rv-free:shipper' }] });
    const issued = await t.api(`${sa}/shipper/tokens`, { method: 'POST', json: {} });
    expect(issued.status).toBe(201);
    const { metadata, status } = (await issued.json()) as { metadata: { name: string }; status: { token: string } };
    tokens.shipper = status.token;
    await eventually(async () => (await as('shipper')('/api/v1/namespaces/rv-free/secrets')).status === 200, 5000, 'binding in force');
    const s = await watch('shipper', '/api/v1/namespaces/rv-free/secrets?watch=1');
    await eventually(() => s.text().includes('"before"'), 3000, 'initial event');
    await removed(`${sa}/shipper/tokens/${metadata.name}`);
    await expectEnded(s, 'rv-free');
  });

  it('the session ended (RFC 7009 revocation of its refresh token): the watch its access token opened ends', async () => {
    await created(`${iam}/namespaces/rv-free/rolebindings`, { metadata: { name: 'carol-view' }, roleRef: { kind: 'Role', name: 'viewer' }, subjects: [{ kind: 'User', name: 'carol' }] });
    const grant = await fetch(`${t.url}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'password', username: 'carol', password: 'carol-Password-9x' }) });
    const session = (await grant.json()) as { access_token: string; refresh_token: string };
    tokens.carolSession = session.access_token;
    await eventually(async () => (await as('carolSession')('/api/v1/namespaces/rv-free/secrets')).status === 200, 5000, 'binding in force');
    const s = await watch('carolSession', '/api/v1/namespaces/rv-free/secrets?watch=1');
    await eventually(() => s.text().includes('"before"'), 3000, 'initial event');
    const revoked = await fetch(`${t.url}/oauth/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: session.refresh_token, token_type_hint: 'refresh_token' }) });
    expect(revoked.status).toBe(200);
    await expectEnded(s, 'rv-free');
  });

  it('the user disabled: the watch ends', async () => {
    await created(`${iam}/namespaces/rv-free/rolebindings`, { metadata: { name: 'bob-view' }, roleRef: { kind: 'Role', name: 'viewer' }, subjects: [{ kind: 'User', name: 'bob' }] });
    await eventually(async () => (await as('bob')('/api/v1/namespaces/rv-free/secrets')).status === 200, 5000, 'binding in force');
    const s = await watch('bob', '/api/v1/namespaces/rv-free/secrets?watch=1');
    await eventually(() => s.text().includes('"before"'), 3000, 'initial event');
    const res = await t.api(`${iam}/users/bob/status`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { status: { state: 'Disabled' } } });
    expect(res.status).toBe(200);
    await expectEnded(s, 'rv-free');
  });
});
