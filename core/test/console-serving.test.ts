import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultConsoleDir } from '../src/http/console-routes.js';
import { startTestCore, type TestCore } from './support/test-core.js';

// The console's page and files as the core serves them (`npm run build` builds core/console).

describe('console serving', () => {
  let t: TestCore;
  beforeAll(async () => {
    t = await startTestCore({ inMemory: true });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('serves the page at / to anyone, revalidated, with a CSP allowing scripts only from the core', async () => {
    const res = await fetch(`${t.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toMatch(/script-src 'self'(;|$)/);
    expect(csp).not.toMatch(/unsafe-eval|script-src[^;]*unsafe-inline/);
    const html = await res.text();
    expect(html).not.toMatch(/<script>(?!<\/script>)/);
    expect(html).toMatch(/<script[^>]+src="\/static\/js\/main\.js\?[0-9a-f]+"/);
  });

  it('serves hashed files as immutable, the entry as no-cache, and nothing outside static/', async () => {
    const js = readdirSync(join(defaultConsoleDir, 'static', 'js'));
    const hashed = js.find((f) => /\.[0-9a-f]{12}\.js$/.test(f))!;
    const res = await fetch(`${t.url}/static/js/${hashed}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(res.headers.get('content-type')).toMatch(/javascript/);
    expect((await fetch(`${t.url}/static/js/main.js`)).headers.get('cache-control')).toBe('no-cache');
    // Compressed for browsers that say they accept it (fetch decodes it again).
    const zipped = await fetch(`${t.url}/static/js/${hashed}`, { headers: { 'accept-encoding': 'gzip' } });
    expect(zipped.headers.get('content-encoding')).toBe('gzip');
    expect(await zipped.text()).toBe(readFileSync(join(defaultConsoleDir, 'static', 'js', hashed), 'utf8'));
    expect((await fetch(`${t.url}/static/../index.html`)).status).not.toBe(200);
    expect((await fetch(`${t.url}/static/js/nope.js`)).status).toBe(404);
  });

  it('answers browser navigations to console pages with the page, and API calls with Status', async () => {
    const page = await fetch(`${t.url}/extension-center`, { headers: { accept: 'text/html,application/xhtml+xml' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<div id="root">/);
    const api = await fetch(`${t.url}/extension-center`, { headers: { accept: 'application/json' } });
    expect(api.status).toBe(401);
    expect(await api.json()).toMatchObject({ kind: 'Status', code: 401 });
    // API paths never fall back to the page, even from a browser.
    const kapi = await fetch(`${t.url}/kapis/tenant.mortise.io/v1alpha1/workspaces`, { headers: { accept: 'text/html' } });
    expect(kapi.status).toBe(401);
    // Signed in, an unknown page is still the console's page (the client routes it).
    const nav = await fetch(`${t.url}/workspaces/w1/x/some-extension`, { headers: { accept: 'text/html', authorization: `Bearer ${t.token}` } });
    expect(nav.status).toBe(200);
    expect(nav.headers.get('content-security-policy')).toBeTruthy();
  });
});
