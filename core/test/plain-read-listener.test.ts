import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plainReadListener } from '../src/http/plain-read-listener.js';
import { claimedBySpecificRoute } from '../src/http/resource-fast-path.js';
import { eventually, startTestCore, type TestCore } from './support/test-core.js';
import { tenantsOf } from './support/tenants.js';
import { settle } from './support/k8s-helpers.js';

// The GET of an object, and a list (whole, selected or paged), answered in front of koa (plain-read-listener.ts): the listener is run
// on a server of its own with a real core's parts, and a fallback that records what it is handed,
// so each case shows who answered. Its answers must be the koa pipeline's, byte for byte.

const category = '/apis/extensions.mortise.io/v1alpha1/categories/read-fast';
const role = '/apis/iam.mortise.io/v1alpha1/namespaces/read-fast/roles/reader';

describe('plain reads, in front of koa', () => {
  let t: TestCore;
  let server: Server;
  let url: string;
  const handed: string[] = [];
  const tenants = tenantsOf(() => t);

  beforeAll(async () => {
    t = await startTestCore({ inMemory: true });
    const c = t.core;
    const listener = plainReadListener({
      kinds: c.kinds, service: c.service, guard: c.guard, metrics: c.metrics, logger: c.logger,
      claimedElsewhere: claimedBySpecificRoute(c.router, ['/api/v1/{*rest}', '/apis/:group/:version/{*rest}']),
    }, (req, res) => {
      handed.push(`${req.method} ${req.url}`);
      res.writeHead(299, { 'content-type': 'text/plain' });
      res.end('handed to koa');
    });
    server = createServer(listener);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await tenants.created('/apis/extensions.mortise.io/v1alpha1/categories', { apiVersion: 'extensions.mortise.io/v1alpha1', kind: 'Category', metadata: { name: 'read-fast' }, spec: { displayName: 'Read fast' } });
    await tenants.created('/api/v1/namespaces', { metadata: { name: 'read-fast' } });
    await tenants.created('/apis/iam.mortise.io/v1alpha1/namespaces/read-fast/roles', { metadata: { name: 'reader' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }] });
    await tenants.addUsers('outsider');
  });
  afterAll(async () => {
    server?.close();
    await t?.close();
  });

  const get = (path: string, headers: Record<string, string> = { authorization: `Bearer ${t.token}` }, method = 'GET') => fetch(`${url}${path}`, { method, headers });
  const answeredHere = async (res: Response, path: string) => {
    expect(res.status, await res.clone().text()).toBe(200);
    expect(handed).not.toContain(`GET ${path}`);
  };

  it('answers objects and whole collections as the core does, and counts them', async () => {
    const sample = async () => (await t.core.metrics.registry.getSingleMetricAsString('mortise_http_requests_total'))
      .split('\n').find((l) => l.includes('route="apis/iam.mortise.io/roles"') && l.includes('method="GET"') && l.includes('code="200"'));
    const countOf = (line: string | undefined) => Number(line?.split(' ').pop() ?? 0);
    const before = countOf(await sample());
    await answeredHere(await get(role), role);
    expect(countOf(await sample())).toBe(before + 1);
    const lists = ['/apis/iam.mortise.io/v1alpha1/namespaces/read-fast/roles', '/apis/iam.mortise.io/v1alpha1/roles', '/apis/extensions.mortise.io/v1alpha1/categories', '/api/v1/namespaces'];
    // Lists carry the store's resourceVersion: the core's controllers finish with the namespace first.
    await settle(t.core.store);
    for (const path of [category, role, '/api/v1/namespaces/read-fast', ...lists]) {
      const fast = await get(path);
      await answeredHere(fast, path);
      // The core's own answer, from its koa pipeline (a parameter the listener does not take keeps it off; koa ignores it).
      const koa = await t.api(`${path}?by=koa`);
      expect(koa.status).toBe(200);
      expect(fast.headers.get('content-type')).toBe(koa.headers.get('content-type'));
      expect(fast.headers.get('content-length')).toBe(koa.headers.get('content-length'));
      expect(await fast.text()).toBe(await koa.text());
    }
  });

  it('hands koa every request it does not answer with what was asked', async () => {
    handed.length = 0;
    const admin = { authorization: `Bearer ${t.token}` };
    const cases: Array<[string, Record<string, string>, string?]> = [
      [category, {}], // no credentials: koa answers 401 and audits it
      ['/apis/iam.mortise.io/v1alpha1/roles', {}],
      [category, { authorization: 'Bearer not-a-token' }],
      [role, { authorization: `Bearer ${tenants.tokens.outsider}` }], // 403, audited
      ['/apis/extensions.mortise.io/v1alpha1/categories/no-such-category', admin], // 404
      [`${category}?resourceVersion=0`, admin],
      [category, { ...admin, accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' }],
      ['/api/v1/namespaces/read-fast/status', admin],
      ['/apis/iam.mortise.io/v1alpha1/namespaces/read-fast/serviceaccounts/sa/tokens', admin], // a route of its own
      ['/apis/extensions.mortise.io/v1alpha1/namespaces/read-fast/categories/read-fast', admin], // a cluster-scoped kind in a namespace
      ['/apis/iam.mortise.io/v1alpha1/namespaces/read-fast/roles', { authorization: `Bearer ${tenants.tokens.outsider}` }],
      ['/apis/iam.mortise.io/v1alpha1/namespaces/read-fast/roles?labelSelector=a%3Db&pretty=true', admin], // a parameter it does not take
      ['/apis/iam.mortise.io/v1alpha1/namespaces/read-fast/roles?labelSelector=a%3D%3D%3Db', admin], // a bad selector: koa's 400
      ['/apis/iam.mortise.io/v1alpha1/namespaces/read-fast/roles?limit=-1', admin],
      ['/apis/iam.mortise.io/v1alpha1/namespaces/read-fast/roles?limit=2&continue=not-a-token', admin],
      ['/apis/iam.mortise.io/v1alpha1/namespaces/read-fast/roles?resourceVersion=x', admin],
      ['/apis/iam.mortise.io/v1alpha1/namespaces/read-fast/roles?fieldSelector=spec.x%3Dy', admin],
      ['/apis/iam.mortise.io/v1alpha1/namespaces/read-fast/roles/reader?fieldSelector=metadata.name%3Dother', admin],
      ['/apis/iam.mortise.io/v1alpha1/namespaces/read-fast/roles?labelSelector=a%3Db', { authorization: `Bearer ${tenants.tokens.outsider}` }],
      ['/apis/iam.mortise.io/v1alpha1/users?labelSelector=a%3Db', admin],
      ['/apis/iam.mortise.io/v1alpha1/namespaces/read-fast/roles?watch=true', admin],
      ['/apis/iam.mortise.io/v1alpha1/users', admin],
      ['/apis/no.such.group/v1/things/x', admin],
      ['/apis/iam.mortise.io/v1alpha1/users/admin', admin], // a kind that hides what it stores (toExternal)
      ['/kapis/tenant.mortise.io/v1alpha1/workspaces', admin],
      [category, admin, 'HEAD'],
      [category, admin, 'DELETE'],
    ];
    for (const [path, headers, method] of cases) {
      const res = await get(path, headers, method ?? 'GET');
      expect(res.status, `${method ?? 'GET'} ${path}`).toBe(299);
    }
    expect(handed).toHaveLength(cases.length);
  });

  it('answers lists with selectors and pages as the core does, and a list by name to who may read that name', async () => {
    const roles = '/apis/iam.mortise.io/v1alpha1/namespaces/read-fast/roles';
    for (let i = 0; i < 7; i++) await tenants.created(roles, { metadata: { name: `paged-${i}`, labels: { tier: `t${i % 3}` } }, rules: [] });
    await tenants.created(roles, { metadata: { name: 'one-role-reader' }, rules: [{ apiGroups: ['iam.mortise.io'], resources: ['roles'], resourceNames: ['paged-3'], verbs: ['get', 'list'] }] });
    await tenants.created('/apis/iam.mortise.io/v1alpha1/namespaces/read-fast/rolebindings', { metadata: { name: 'one-role-reader' }, roleRef: { kind: 'Role', name: 'one-role-reader' }, subjects: [{ kind: 'User', name: 'outsider' }] });
    await settle(t.core.store);
    handed.length = 0;
    const asked = [
      `${roles}?labelSelector=tier%3Dt1`, `${roles}?labelSelector=tier%20in%20(t0%2Ct2)&limit=2`, `${roles}?limit=500`,
      `${roles}?fieldSelector=metadata.name%3Dpaged-4`, `${roles}?fieldSelector=metadata.name!%3Dreader&resourceVersion=0`,
      '/apis/iam.mortise.io/v1alpha1/roles?labelSelector=tier&limit=3', '/api/v1/namespaces?fieldSelector=metadata.name%3Dread-fast',
    ];
    for (const path of asked) {
      // Every page, following the continue tokens the listener hands out.
      let next: string | undefined = path;
      for (let pages = 0; next && pages < 10; pages++) {
        const fast = await get(next);
        await answeredHere(fast, next);
        const koa = await t.api(`${next}&by=koa`);
        expect(koa.status).toBe(200);
        expect(fast.headers.get('content-length')).toBe(koa.headers.get('content-length'));
        const text = await fast.text();
        expect(text, next).toBe(await koa.text());
        const token = (JSON.parse(text) as { metadata: { continue?: string } }).metadata.continue;
        next = token ? `${path}&continue=${encodeURIComponent(token)}` : undefined;
      }
    }
    expect(handed).toEqual([]);
    // Who may read one role lists it by name, here; the whole list is koa's to refuse.
    const outsider = { authorization: `Bearer ${tenants.tokens.outsider}` };
    const one = `${roles}?fieldSelector=metadata.name%3Dpaged-3`;
    await eventually(async () => (await get(`${roles}/paged-3`, outsider)).status === 200, 10_000, 'the grant of paged-3');
    const mine = await get(one, outsider);
    await answeredHere(mine, one);
    expect(((await mine.json()) as { items: Array<{ metadata: { name: string } }> }).items.map((o) => o.metadata.name)).toEqual(['paged-3']);
    for (const wider of [`${roles}?labelSelector=tier%3Dt0`, `${roles}?fieldSelector=metadata.name%3Dpaged-4`, `${roles}?limit=1`]) {
      expect((await get(wider, outsider)).status, wider).toBe(299);
    }
  });

  it('answers what it answers only to who may read it, through the core port too', async () => {
    const outsider = await fetch(`${t.url}${role}`, { headers: { authorization: `Bearer ${tenants.tokens.outsider}`, 'x-remote-user': 'admin' } });
    expect(outsider.status).toBe(403);
    const status = (await outsider.json()) as { reason: string };
    expect(status.reason).toBe('Forbidden');
    expect(outsider.headers.get('audit-id')).toMatch(/[0-9a-f-]{36}/);
    // Identity headers are not trusted: the admin's token with a claimed other user is still the admin.
    const spoofed = await fetch(`${t.url}${role}`, { headers: { authorization: `Bearer ${t.token}`, 'x-remote-user': 'outsider' } });
    expect(spoofed.status).toBe(200);
  });
});
