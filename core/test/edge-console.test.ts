import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundledRepository, registerBundledRepository } from '../src/extensions/bundled-repository.js';
import { freePort } from './support/child-core.js';
import { adminPassword, call, eventually, login, startTestCore, type TestCore } from './support/test-core.js';
import { tcpConnectionsOn, unixConnectionsAt } from './support/process-sockets.js';
import { artifact, launchChromium, signInThroughPage } from './support/browser.js';

// The console used through the native edge, as a browser does: the session cookie (not a bearer
// token) is the credential the edge decides on, and logging out stops it at the next request.

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ext = '/apis/extensions.mortise.io/v1alpha1';

describe('the console through the native edge', () => {
  let t: TestCore;
  let repoDir: string | undefined;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let edge = '';

  beforeAll(async () => {
    t = await startTestCore({ edge: { listen: String(await freePort()) } });
    edge = t.core.edgeUrl!;
    repoDir = mkdtempSync(join(tmpdir(), 'mortise-edge-console-repo-'));
    const repo = await buildBundledRepository([join(root, 'examples')], repoDir, t.core.logger);
    expect(repo.extensions).toContain('hello-world');
    await registerBundledRepository(t.core.service, t.core.kinds, repo.url);
    await eventually(async () => (await t.api(`${ext}/extensionversions/hello-world-0.1.0`)).ok, 60_000, 'the bundled repository');
    expect((await t.api(`${ext}/installplans`, { method: 'POST', json: { metadata: { name: 'hello-world' }, spec: { extension: { name: 'hello-world', version: '0.1.0' }, enabled: true } } })).status).toBe(201);
    await eventually(async () => (await t.api('/proxy/hello-world/hello')).ok, 90_000, 'hello-world serving');
    browser = await launchChromium();
    context = await browser.newContext({ locale: 'en-US' });
    page = await context.newPage();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await t?.close();
    if (repoDir) rmSync(repoDir, { recursive: true, force: true });
  });

  it('reaches the backend on its port from the edge, and on the Unix socket the runtime gave it from the core\'s gateway', async () => {
    const backend = t.core.runtime.list().find((b) => b.extension === 'hello-world' && b.state === 'Ready')!;
    expect(backend.socketPath).toBeTruthy();
    expect(statSync(dirname(backend.socketPath!)).mode & 0o777).toBe(0o700);
    const port = Number(new URL(backend.url!).port);
    const conf = readdirSync(tmpdir()).filter((d) => d.startsWith('mortise-edge-')).map((d) => join(tmpdir(), d, 'nginx.conf'))
      .map((f) => { try { return readFileSync(f, 'utf8'); } catch { return ''; } }).find((c) => c.includes(`:${new URL(edge).port};`))!;
    // MORTISE_EDGE_BACKEND_SOCKETS is off by default (docs/edge.md says why).
    expect(conf).toMatch(new RegExp(`upstream mortise_backend_\\d+ \\{ server 127\\.0\\.0\\.1:${port}; keepalive`));
    expect(conf).not.toContain(backend.socketPath!);
    const token = await login(t.url, 'admin', adminPassword);
    for (let i = 0; i < 3; i++) {
      expect((await call(edge, token, '/proxy/hello-world/hello')).status).toBe(200);
      expect((await call(t.url, token, '/proxy/hello-world/hello')).status).toBe(200);
    }
    // Both keep their connections to it open (nginx's keepalive, the gateway's pool): the
    // gateway's on the socket, nginx's on the port (the runtime's health checks close theirs at once).
    expect(unixConnectionsAt(backend.pid!, backend.socketPath!)).toBeGreaterThanOrEqual(1);
    expect(tcpConnectionsOn(backend.pid!, port)).toBeGreaterThanOrEqual(1);
  });

  it('signs in on the edge\'s port and shows an extension\'s page, its backend reached by the edge itself', async () => {
    const servedBefore = await edgeServed();
    await signInThroughPage(page, edge, 'admin', adminPassword);
    await page.getByTestId('navigation').getByRole('link', { name: 'Hello World' }).click();
    await expect(page.getByTestId('hello-message').textContent()).resolves.toBe('Hello, admin!');
    await page.screenshot({ path: artifact('edge-hello-world.png') });
    // The page's call to its backend (a GET with the session cookie) was answered by nginx. (Each
    // nginx worker adds its counts to what /metrics reads every second: the worker that served it
    // may not be the one asked.)
    await eventually(async () => ((await edgeServed()) > servedBefore ? true : undefined), 3_000, 'the edge\'s count of the page\'s call');
  });

  it('stops the session cookie at the next request once the user logs out', async () => {
    const call = () => page.evaluate(async () => (await fetch('/proxy/hello-world/hello')).status);
    expect(await call()).toBe(200);
    expect(await call()).toBe(200);
    const cookies = await context.cookies(edge);
    const session = cookies.find((c) => c.name === 'mortise_session')!;
    const csrf = cookies.find((c) => c.name === 'mortise_csrf')!;
    // Logging out from another tab of the same browser: the cookie jar keeps the old session cookie
    // in this one only because we put it back — as a stolen copy would be replayed.
    const out = await page.evaluate(async (token) => (await fetch('/oauth/session/logout', { method: 'POST', headers: { 'x-csrf-token': token } })).status, csrf.value);
    expect(out).toBe(200);
    await context.addCookies([session]);
    expect(await call()).toBe(401);
  });

  async function edgeServed(): Promise<number> {
    const text = await (await t.api('/metrics')).text();
    return Number(/^mortise_edge_requests_total\{route="gateway\/reverseproxy\/hello-world",method="GET",code="200"\} (\d+)/m.exec(text)?.[1] ?? 0);
  }
});
