import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminPassword, startTestCore, type TestCore } from './support/test-core.js';

// The console's browser session over real HTTP: httpOnly SameSite cookies, CSRF on writes,
// refresh and logout by the core, and the session never crossing the gateway.

interface Jar {
  cookies: Map<string, string>;
  header(): string;
}

const jar = (): Jar => {
  const cookies = new Map<string, string>();
  return { cookies, header: () => [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') };
};

/** Keeps what Set-Cookie says, as a browser would (Max-Age=0 removes). */
function remember(j: Jar, res: Response): string[] {
  const set = res.headers.getSetCookie();
  for (const c of set) {
    const [pair] = c.split(';');
    const [name, ...v] = pair!.split('=');
    if (/Max-Age=0/i.test(c)) j.cookies.delete(name!);
    else j.cookies.set(name!, v.join('='));
  }
  return set;
}

describe('console session cookies', () => {
  let t: TestCore;
  let backend: Server;
  let seen: IncomingHttpHeaders | undefined;

  const signIn = async (j: Jar, username = 'admin', password = adminPassword) => {
    const res = await fetch(`${t.url}/oauth/session`, { method: 'POST', body: new URLSearchParams({ username, password }) });
    return { res, set: remember(j, res) };
  };
  const call = (j: Jar, path: string, init: RequestInit = {}) => fetch(`${t.url}${path}`, { ...init, headers: { ...(init.headers as Record<string, string>), cookie: j.header() } });
  const ns = (name: string) => JSON.stringify({ metadata: { name } });

  beforeAll(async () => {
    t = await startTestCore({ inMemory: true });
    backend = createServer((req, res) => {
      seen = req.headers;
      res.setHeader('Set-Cookie', ['mortise_session=forged; Path=/', 'backend_pref=1; Path=/']);
      res.end('ok');
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(backend.address() as AddressInfo).port}`;
    expect((await t.api('/apis/extensions.mortise.io/v1alpha1/reverseproxies', {
      method: 'POST',
      json: { apiVersion: 'extensions.mortise.io/v1alpha1', kind: 'ReverseProxy', metadata: { name: 'echo' }, spec: { matcher: { path: '/proxy/echo/' }, upstream: { url } } },
    })).status).toBe(201);
  });
  afterAll(async () => {
    await t?.close();
    backend?.close();
  });

  it('signs in with httpOnly SameSite cookies; only the CSRF token is readable by pages', async () => {
    const j = jar();
    const { res, set } = await signIn(j);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ authenticated: true, user: { username: 'admin' } });
    const byName = new Map(set.map((c) => [c.split('=')[0], c]));
    expect(byName.get('mortise_session')).toMatch(/HttpOnly/);
    expect(byName.get('mortise_session')).toMatch(/SameSite=Strict/);
    expect(byName.get('mortise_refresh')).toMatch(/HttpOnly/);
    expect(byName.get('mortise_refresh')).toMatch(/Path=\/oauth\/session/);
    expect(byName.get('mortise_csrf')).not.toMatch(/HttpOnly/);
    // The body carries no token.
    expect(JSON.stringify(await (await signIn(jar())).res.json())).not.toMatch(/eyJ|mrt_/);
    const who = await (await call(j, '/oauth/session')).json();
    expect(who).toMatchObject({ authenticated: true, via: 'cookie', user: { username: 'admin' } });
  });

  it('authenticates reads by cookie, and refuses cookie writes without the CSRF header', async () => {
    const j = jar();
    await signIn(j);
    expect((await call(j, '/api/v1/namespaces')).status).toBe(200);
    const noHeader = await call(j, '/api/v1/namespaces', { method: 'POST', body: ns('csrf-none'), headers: { 'content-type': 'application/json' } });
    expect(noHeader.status).toBe(403);
    expect(((await noHeader.json()) as { message: string }).message).toMatch(/X-CSRF-Token|x-csrf-token/i);
    const wrong = await call(j, '/api/v1/namespaces', { method: 'POST', body: ns('csrf-wrong'), headers: { 'content-type': 'application/json', 'x-csrf-token': 'guess' } });
    expect(wrong.status).toBe(403);
    expect((await t.api('/api/v1/namespaces/csrf-wrong')).status).toBe(404);
    const ok = await call(j, '/api/v1/namespaces', { method: 'POST', body: ns('csrf-ok'), headers: { 'content-type': 'application/json', 'x-csrf-token': j.cookies.get('mortise_csrf')! } });
    expect(ok.status).toBe(201);
  });

  it('leaves bearer-token clients as they were (no CSRF header needed)', async () => {
    expect((await t.api('/api/v1/namespaces', { method: 'POST', json: { metadata: { name: 'bearer-write' } } })).status).toBe(201);
  });

  it('refuses a sign-in posted by a page of another origin', async () => {
    // fetch() sets Origin itself; a plain request sends what a browser on that site would.
    const res = await new Promise<{ status: number; setCookie: string[] }>((resolve, reject) => {
      const req = request(`${t.url}/oauth/session`, { method: 'POST', headers: { origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' } }, (r) => {
        r.resume();
        r.on('end', () => resolve({ status: r.statusCode!, setCookie: r.headers['set-cookie'] ?? [] }));
      });
      req.on('error', reject);
      req.end(new URLSearchParams({ username: 'admin', password: adminPassword }).toString());
    });
    expect(res.status).toBe(403);
    expect(res.setCookie).toEqual([]);
  });

  it('answers a wrong password with an error and no session', async () => {
    const j = jar();
    const { res } = await signIn(j, 'admin', 'not-the-password');
    expect(res.status).toBe(400);
    expect(j.cookies.has('mortise_session')).toBe(false);
    expect((await call(j, '/oauth/session').then((r) => r.json()))).toMatchObject({ authenticated: false });
  });

  it('refreshes through the core (rotating the refresh cookie) and logs out by revoking it', async () => {
    const j = jar();
    await signIn(j);
    const oldRefresh = j.cookies.get('mortise_refresh')!;
    expect((await call(j, '/oauth/session/refresh', { method: 'POST' })).status).toBe(403);
    const refreshed = await call(j, '/oauth/session/refresh', { method: 'POST', headers: { 'x-csrf-token': j.cookies.get('mortise_csrf')! } });
    expect(refreshed.status).toBe(200);
    remember(j, refreshed);
    expect(j.cookies.get('mortise_refresh')).not.toBe(oldRefresh);
    expect((await call(j, '/api/v1/namespaces')).status).toBe(200);

    const revoked = j.cookies.get('mortise_refresh')!;
    const out = await call(j, '/oauth/session/logout', { method: 'POST', headers: { 'x-csrf-token': j.cookies.get('mortise_csrf')! } });
    expect(out.status).toBe(200);
    remember(j, out);
    expect(j.cookies.size).toBe(0);
    // The refresh token is dead on the server, not just forgotten by the browser.
    const reuse = await fetch(`${t.url}/oauth/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: revoked }) });
    expect(reuse.status).toBe(400);
  });

  it('logout ends the access token in the cookie at once, on the API and the gateway, and no other session', async () => {
    const j = jar();
    await signIn(j);
    const other = jar();
    await signIn(other);
    const stolen = jar();
    for (const [k, v] of j.cookies) stolen.cookies.set(k, v);
    expect((await call(stolen, '/api/v1/namespaces')).status).toBe(200);
    expect((await call(stolen, '/proxy/echo/x')).status).toBe(200);
    const out = await call(j, '/oauth/session/logout', { method: 'POST', headers: { 'x-csrf-token': j.cookies.get('mortise_csrf')! } });
    expect(out.status).toBe(200);
    // A copy of the cookies taken before logout (another tab, a stolen cookie) no longer works.
    const api = await call(stolen, '/api/v1/namespaces');
    expect(api.status).toBe(401);
    expect(((await api.json()) as { message: string }).message).toMatch(/session .* has ended/);
    expect((await call(stolen, '/proxy/echo/x')).status).toBe(401);
    // The same user's other session is untouched.
    expect((await call(other, '/api/v1/namespaces')).status).toBe(200);
  });

  it('never forwards the session cookies to an extension backend, nor lets one set them', async () => {
    const j = jar();
    await signIn(j);
    j.cookies.set('theme', 'dark');
    const res = await call(j, '/proxy/echo/x');
    expect(res.status).toBe(200);
    expect(seen?.cookie).toBe('theme=dark');
    const set = res.headers.getSetCookie();
    expect(set.some((c) => c.startsWith('mortise_'))).toBe(false);
    expect(set.some((c) => c.startsWith('backend_pref='))).toBe(true);
  });
});
