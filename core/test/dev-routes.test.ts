import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DevRoutes } from '../src/gateway/dev-routes.js';
import { call, login, startTestCore, type TestCore } from './support/test-core.js';

// Development routes (mortise-ext dev): the developer's own requests under an extension's paths
// reach the backend on their machine, with their forwarded identity; nobody else's do.

const devroutes = '/kapis/extensions.mortise.io/v1alpha1/devroutes';

describe('development routes', () => {
  let t: TestCore;
  let backend: Server;
  let backendUrl: string;
  let bobToken: string;
  const seen: Array<{ path: string; identity: boolean }> = [];

  beforeAll(async () => {
    t = await startTestCore({ inMemory: true });
    backend = createServer((req, res) => {
      seen.push({ path: req.url ?? '', identity: typeof req.headers['x-mortise-identity'] === 'string' });
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ dev: true, path: req.url }));
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
    backendUrl = `http://127.0.0.1:${(backend.address() as AddressInfo).port}`;
    await t.api('/apis/iam.mortise.io/v1alpha1/users', { method: 'POST', json: { metadata: { name: 'bob' }, spec: { email: 'bob@example.com', password: 'bob-password-123' } } });
    await t.api('/apis/iam.mortise.io/v1alpha1/globalrolebindings', { method: 'POST', json: { metadata: { name: 'bob-regular' }, roleRef: { apiGroup: 'iam.mortise.io', kind: 'GlobalRole', name: 'platform-regular' }, subjects: [{ kind: 'User', apiGroup: 'iam.mortise.io', name: 'bob' }] } });
    bobToken = await login(t.url, 'bob', 'bob-password-123');
  });

  afterAll(async () => {
    await t?.close();
    backend?.close();
  });

  const put = (token: string | undefined, name: string, body: unknown) => call(t.url, token, `${devroutes}/${name}`, { method: 'PUT', json: body });

  it('serves the developer\'s own requests from their backend, with the prefix stripped and their identity forwarded; no one else\'s', async () => {
    const res = await put(t.token, 'acme-notes', { url: backendUrl, reverseProxies: [{ prefix: '/proxy/acme-notes/', stripPrefix: true }] });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ kind: 'DevRoute', metadata: { name: 'acme-notes' }, spec: { url: `${backendUrl}/`, ttlSeconds: 60 }, status: { user: 'admin' } });
    const mine = await t.api('/proxy/acme-notes/hello?x=1');
    expect(await mine.json()).toEqual({ dev: true, path: '/hello?x=1' });
    expect(seen.at(-1)).toEqual({ path: '/hello?x=1', identity: true });
    // Another user: the extension is not installed, so no role lets them at its paths, and the
    // developer's backend never sees them.
    const before = seen.length;
    const theirs = await call(t.url, bobToken, '/proxy/acme-notes/hello');
    expect(theirs.status).toBe(403);
    expect(seen.length).toBe(before);
    // Anonymous callers are refused before anything else.
    expect((await fetch(`${t.url}/proxy/acme-notes/hello`)).status).toBe(401);
    const list = (await (await t.api(devroutes)).json()) as { items: Array<{ metadata: { name: string } }> };
    expect(list.items.map((i) => i.metadata.name)).toEqual(['acme-notes']);
  });

  it('is for administrators (or whoever a role grants devroutes): others get 403 and change nothing', async () => {
    const res = await put(bobToken, 'acme-notes', { url: backendUrl, reverseProxies: [{ prefix: '/proxy/acme-notes/' }] });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ kind: 'Status', reason: 'Forbidden', message: expect.stringContaining('devroutes') });
    expect((await call(t.url, bobToken, '/proxy/acme-notes/hello')).status).toBe(403);
    expect(seen.every((s) => s.path !== '/hello' || s.identity)).toBe(true);
  });

  it('validates: a URL, routes under the extension\'s own paths, no core API group, a bounded TTL', async () => {
    const bad = await put(t.token, 'acme-notes', { url: 'file:///etc/passwd', reverseProxies: [{ prefix: '/proxy/other/' }], apiServices: [{ group: 'iam.mortise.io', version: 'v1alpha1' }], ttlSeconds: 99999 });
    expect(bad.status).toBe(400);
    const { message } = (await bad.json()) as { message: string };
    expect(message).toBe('the development route for acme-notes is invalid: url: must be an http(s) URL; reverseProxies[0].prefix: must lie under /proxy/acme-notes/ (an extension\'s own paths); apiServices[0].group: iam.mortise.io is served by the core; ttlSeconds: must be an integer from 5 to 3600');
    expect((await put(t.token, 'Bad_Name', { url: backendUrl })).status).toBe(400);
    // The earlier route is unchanged.
    expect((await t.api('/proxy/acme-notes/hello')).status).toBe(200);
  });

  it('serves the developer\'s frontend build to their browser (token or session cookie) only; others get the installed assets', async () => {
    const res = await put(t.token, 'acme-ui', { url: backendUrl, reverseProxies: [{ prefix: '/proxy/acme-ui/' }], frontend: { url: backendUrl, directory: 'dist/frontend' } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ spec: { frontend: { url: `${backendUrl}/`, directory: 'dist/frontend' } } });
    const asset = '/extensions/acme-ui/assets/dist/frontend/remoteEntry.js?v=0.1.0';
    expect(await (await t.api(asset)).json()).toEqual({ dev: true, path: '/remoteEntry.js?v=0.1.0' });
    const byCookie = await fetch(`${t.url}${asset}`, { headers: { cookie: `mortise_session=${t.token}` } });
    expect(await byCookie.json()).toEqual({ dev: true, path: '/remoteEntry.js?v=0.1.0' });
    // Anyone else (anonymous, another user, a token that does not verify) gets the installed
    // version's files: acme-ui is not installed, so 404, and the developer's machine sees nothing.
    const before = seen.length;
    for (const headers of [{}, { authorization: `Bearer ${bobToken}` }, { authorization: 'Bearer not-a-token' }] as Record<string, string>[]) {
      expect((await fetch(`${t.url}${asset}`, { headers })).status).toBe(404);
    }
    expect(seen.length).toBe(before);
    const bad = await put(t.token, 'acme-ui', { url: backendUrl, reverseProxies: [{ prefix: '/proxy/acme-ui/' }], frontend: { url: 'ftp://x', directory: '../etc' } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toBe('the development route for acme-ui is invalid: frontend.url: must be an http(s) URL; frontend.directory: must be the relative directory of frontend.remoteEntry (e.g. dist/frontend)');
    expect((await call(t.url, t.token, `${devroutes}/acme-ui`, { method: 'DELETE' })).status).toBe(200);
    expect((await t.api(asset)).status).toBe(404);
  });

  it('DELETE removes it at once', async () => {
    expect((await call(t.url, t.token, `${devroutes}/acme-notes`, { method: 'DELETE' })).status).toBe(200);
    expect((await t.api('/proxy/acme-notes/hello')).status).toBe(404);
    expect((await call(t.url, t.token, `${devroutes}/acme-notes`, { method: 'DELETE' })).status).toBe(404);
  });
});

describe('DevRoutes', () => {
  it('expire after their TTL unless renewed', () => {
    let now = 1_000_000;
    const routes = new DevRoutes(() => now);
    routes.set('ann', { extension: 'x', url: 'http://127.0.0.1:1/', reverseProxies: [{ prefix: '/proxy/x/', stripPrefix: true }], apiServices: [{ group: 'x.example.com', version: 'v1' }], ttlSeconds: 10 });
    expect(routes.match('ann', '/proxy/x/a', '')?.upstreamPath).toBe('/a');
    expect(routes.match('ann', '/kapis/x.example.com/v1/things', '?q=1')?.upstreamPath).toBe('/kapis/x.example.com/v1/things?q=1');
    expect(routes.match('ann', '/proxy/xy/a', '')).toBeUndefined();
    expect(routes.match('ben', '/proxy/x/a', '')).toBeUndefined();
    expect(routes.claims('/proxy/x/a')).toBe(true);
    now += 10_001;
    expect(routes.match('ann', '/proxy/x/a', '')).toBeUndefined();
    expect(routes.claims('/proxy/x/a')).toBe(false);
    expect(routes.list('ann')).toEqual([]);
  });
});
