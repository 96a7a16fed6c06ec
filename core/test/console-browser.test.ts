/// <reference lib="dom" />
// (The DOM lib is for the functions run in the page: page.evaluate. See tsconfig.test-browser.json.)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildFrontend } from '@mortise/extension-sdk/federation';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundledRepository, registerBundledRepository } from '../src/extensions/bundled-repository.js';
import { adminPassword, startTestCore, type TestCore } from './support/test-core.js';
import { artifact, launchChromium, signInThroughPage } from './support/browser.js';

// The console in a real browser against a real core: sign-in, the Extension Center installing
// hello-world from the bundled repository, live enable/disable, broken extensions, permissions, Chinese.

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const fixtures = join(root, 'core', 'test', 'fixtures', 'console-extensions');
const ext = '/apis/extensions.mortise.io/v1alpha1';
const iam = '/apis/iam.mortise.io/v1alpha1';

describe('console in a browser', () => {
  let t: TestCore;
  let repoDir: string | undefined;
  let browser: Browser;
  let admin: BrowserContext;
  let page: Page;

  const signIn = (p: Page, username: string, password: string) => signInThroughPage(p, t.url, username, password);
  const nav = (p: Page) => p.getByTestId('navigation');

  beforeAll(async () => {
    // The extension whose page throws is built by the SDK's federation preset, like any other.
    await buildFrontend(join(fixtures, 'throws-page'));
    t = await startTestCore();
    repoDir = mkdtempSync(join(tmpdir(), 'mortise-console-repo-'));
    const repo = await buildBundledRepository([join(root, 'examples'), fixtures], repoDir, t.core.logger);
    expect(repo.extensions).toEqual(expect.arrayContaining(['hello-world', 'throws-page', 'gallery']));
    await registerBundledRepository(t.core.service, t.core.kinds, repo.url);
    browser = await launchChromium();
    admin = await browser.newContext({ locale: 'en-US' });
    page = await admin.newPage();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await t?.close();
    if (repoDir) rmSync(repoDir, { recursive: true, force: true });
  });

  it('signs in through the login page, holding no token where scripts can read it', async () => {
    await page.goto(t.url);
    await page.getByLabel('Password').waitFor();
    await page.screenshot({ path: artifact('login.png') });
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill('wrong-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByTestId('login-error').textContent()).resolves.toMatch(/incorrect username or password/);
    await page.getByLabel('Password').fill(adminPassword);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('Welcome, ').waitFor();
    const readable = await page.evaluate(() => `${document.cookie} ${JSON.stringify({ ...localStorage })} ${JSON.stringify({ ...sessionStorage })}`);
    expect(readable).not.toMatch(/eyJ|mrt_|mortise_session|mortise_refresh/);
    const cookies = await admin.cookies();
    expect(cookies.find((c) => c.name === 'mortise_session')).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
  });

  it('installs hello-world from the Extension Center; its page shows the backend\'s message through the gateway', async () => {
    await nav(page).getByRole('link', { name: 'Extension Center' }).click();
    // The repositories the marketplace comes from, with their sync state.
    await page.getByRole('tab', { name: 'Repositories' }).click();
    await page.getByRole('row', { name: /bundled.*Synced/ }).waitFor();
    await page.getByRole('tab', { name: 'Extensions' }).click();
    const card = page.getByTestId('extension-card-hello-world');
    await card.getByRole('button', { name: 'Install' }).click();
    await nav(page).getByRole('link', { name: 'Hello World' }).waitFor({ timeout: 90_000 });
    await expect(page.getByTestId('extension-state-hello-world').textContent()).resolves.toBe('Installed');
    await page.screenshot({ path: artifact('extension-center.png') });
    await nav(page).getByRole('link', { name: 'Hello World' }).click();
    await expect(page.getByTestId('hello-message').textContent()).resolves.toBe('Hello, admin!');
    await page.screenshot({ path: artifact('hello-world.png') });
  });

  it('removes a disabled extension from another open console without a reload', async () => {
    const other = await admin.newPage();
    // A route with a :param segment: the page gets its decoded value.
    await other.goto(`${t.url}/x/hello-world/greet/Zo%C3%AB`);
    await expect(other.getByTestId('greet-message').textContent()).resolves.toBe('Greetings, Zoë!');
    await other.goto(`${t.url}/x/hello-world`);
    await expect(other.getByTestId('hello-message').textContent()).resolves.toBe('Hello, admin!');
    await other.evaluate(() => ((window as unknown as { stillHere: boolean }).stillHere = true));
    await nav(page).getByRole('link', { name: 'Extension Center' }).click();
    await page.getByTestId('extension-card-hello-world').getByRole('button', { name: 'Disable' }).click();
    await nav(other).getByRole('link', { name: 'Hello World' }).waitFor({ state: 'detached', timeout: 30_000 });
    await other.getByText('No enabled extension provides this page.').waitFor();
    expect(await other.evaluate(() => (window as unknown as { stillHere?: boolean }).stillHere)).toBe(true);
    await other.screenshot({ path: artifact('disabled-in-other-tab.png') });
    // Enabled again, it comes back the same way.
    await page.getByTestId('extension-card-hello-world').getByRole('button', { name: 'Enable' }).click();
    await nav(other).getByRole('link', { name: 'Hello World' }).waitFor({ timeout: 60_000 });
    await expect(other.getByTestId('hello-message').textContent()).resolves.toBe('Hello, admin!');
    expect(await other.evaluate(() => (window as unknown as { stillHere?: boolean }).stillHere)).toBe(true);
    await other.close();
  });

  it('shows an error card naming a broken extension while another one works', async () => {
    // One whose remote entry is not there (404), one whose page throws.
    expect((await t.api(`${ext}/jsbundles`, {
      method: 'POST',
      json: { apiVersion: 'extensions.mortise.io/v1alpha1', kind: 'JSBundle', metadata: { name: 'unreachable' }, spec: { remoteName: 'unreachable', remoteEntry: '/extensions/unreachable/assets/dist/frontend/remoteEntry.js', exposedModule: './extension', enabled: true } },
    })).status).toBe(201);
    expect((await t.api(`${ext}/installplans`, {
      method: 'POST',
      json: { apiVersion: 'extensions.mortise.io/v1alpha1', kind: 'InstallPlan', metadata: { name: 'throws-page' }, spec: { extension: { name: 'throws-page', version: '0.1.0' }, enabled: true } },
    })).status).toBe(201);
    await nav(page).getByRole('link', { name: 'Overview' }).click();
    const unreachable = page.getByTestId('extension-error-unreachable');
    await unreachable.waitFor({ timeout: 30_000 });
    expect(await unreachable.textContent()).toMatch(/unreachable.*remote entry .* could not be loaded/s);
    await nav(page).getByRole('link', { name: 'Broken Page' }).click({ timeout: 60_000 });
    const thrown = page.getByTestId('extension-error-throws-page');
    await thrown.waitFor();
    expect(await thrown.textContent()).toMatch(/throws-page.*broken on purpose/s);
    await expect(thrown.getByRole('button', { name: 'Retry' }).isVisible()).resolves.toBe(true);
    await page.screenshot({ path: artifact('broken-extension.png') });
    // Its tab and action on namespaces' pages work (the page of the extension is broken, not the rest).
    await page.goto(`${t.url}/resources/core/v1/namespaces/default`);
    await page.getByRole('tab', { name: 'About this namespace' }).click();
    await expect(page.getByTestId('namespace-tab').textContent()).resolves.toBe('Namespace default seen by an extension');
    await page.getByRole('button', { name: 'Wave' }).click();
    await page.getByRole('dialog').getByTestId('namespace-tab').waitFor();
    await page.keyboard.press('Escape');
    // The rest of the console goes on: hello-world still answers.
    await nav(page).getByRole('link', { name: 'Hello World' }).click();
    await expect(page.getByTestId('hello-message').textContent()).resolves.toBe('Hello, admin!');
    // The unreachable one is retried, not given up on: once its JSBundle is gone, so is the card.
    expect((await t.api(`${ext}/jsbundles/unreachable`, { method: 'DELETE' })).status).toBe(200);
    await nav(page).getByRole('link', { name: 'Overview' }).click();
    await unreachable.waitFor({ state: 'detached' });
  });

  it('shows a workspace viewer neither the admin pages nor their actions', async () => {
    expect((await t.api(`${iam}/users`, { method: 'POST', json: { metadata: { name: 'viewer1' }, spec: { email: 'viewer1@example.com', password: 'viewer1-password-1' } } })).status).toBe(201);
    expect((await t.api('/apis/tenant.mortise.io/v1alpha1/workspaces', { method: 'POST', json: { metadata: { name: 'ws1' }, spec: { manager: 'admin' } } })).status).toBe(201);
    await expect.poll(async () => (await t.api(`${iam}/workspaceroles/ws1-viewer`)).status, { timeout: 10_000 }).toBe(200);
    expect((await t.api(`${iam}/workspacerolebindings`, {
      method: 'POST',
      json: { metadata: { name: 'ws1-viewer1-viewer', labels: { 'tenant.mortise.io/workspace': 'ws1' } }, roleRef: { apiGroup: 'iam.mortise.io', kind: 'WorkspaceRole', name: 'ws1-viewer' }, subjects: [{ kind: 'User', apiGroup: 'iam.mortise.io', name: 'viewer1' }] },
    })).status).toBe(201);
    const context = await browser.newContext({ locale: 'en-US' });
    const viewer = await context.newPage();
    await signIn(viewer, 'viewer1', 'viewer1-password-1');
    await nav(viewer).getByRole('link', { name: 'Overview' }).waitFor();
    // Extensions every user may use are there; the admin pages are not.
    await nav(viewer).getByRole('link', { name: 'Hello World' }).waitFor({ timeout: 30_000 });
    for (const adminPage of ['Extension Center', 'Users', 'Resources', 'Audit log', 'Roles']) {
      expect(await nav(viewer).getByRole('link', { name: adminPage }).count(), adminPage).toBe(0);
    }
    await viewer.goto(`${t.url}/extension-center`);
    await nav(viewer).getByRole('link', { name: 'Overview' }).waitFor();
    await viewer.waitForTimeout(500);
    expect(await viewer.getByRole('button', { name: 'Install' }).count()).toBe(0);
    expect(await viewer.getByRole('button', { name: 'Disable' }).count()).toBe(0);
    // An action they may not use (it needs delete on namespaces) is not offered on a page they may read.
    expect((await t.api('/api/v1/namespaces', { method: 'POST', json: { metadata: { name: 'ws1-dev', labels: { 'tenant.mortise.io/workspace': 'ws1' } } } })).status).toBe(201);
    await viewer.goto(`${t.url}/resources/core/v1/namespaces/ws1-dev`);
    // They may read it (the object is shown), so the page is complete when the action is absent.
    await expect.poll(() => viewer.getByLabel('YAML editor').inputValue().catch(() => ''), { timeout: 30_000 }).toMatch(/name: ws1-dev/);
    await viewer.getByRole('tab', { name: 'About this namespace' }).waitFor();
    await viewer.waitForTimeout(500);
    expect(await viewer.getByRole('button', { name: 'Wave' }).count()).toBe(0);
    // Their workspace is in the switcher.
    await viewer.getByTestId('workspace-switcher').click();
    await viewer.getByRole('option', { name: 'ws1' }).waitFor();
    await viewer.screenshot({ path: artifact('workspace-viewer.png') });
    await context.close();
  });

  it('edits objects of any kind as YAML, showing the server\'s validation errors in place', async () => {
    await nav(page).getByRole('link', { name: 'Resources' }).click();
    await page.getByLabel('Filter kinds').fill('Workspace');
    await page.getByRole('link', { name: 'Workspace', exact: true }).click();
    await page.getByRole('link', { name: 'Create' }).click();
    const editor = page.getByLabel('YAML editor');
    await editor.fill('apiVersion: tenant.mortise.io/v1alpha1\nkind: Workspace\nmetadata:\n  name: from-yaml\nspec:\n  manager: 5\n');
    await page.getByRole('button', { name: 'Save' }).click();
    const problem = page.getByTestId('resource-error');
    await problem.waitFor();
    expect(await problem.textContent()).toMatch(/spec\.manager: Invalid value: must be string/);
    await page.screenshot({ path: artifact('yaml-validation.png') });
    await editor.fill('apiVersion: tenant.mortise.io/v1alpha1\nkind: Workspace\nmetadata:\n  name: from-yaml\nspec:\n  manager: admin\n');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByTestId('resource-saved').waitFor();
    expect((await t.api('/apis/tenant.mortise.io/v1alpha1/workspaces/from-yaml')).status).toBe(200);
  });

  it('shows the Status of a write the API refuses in place, and the object stays as it was', async () => {
    expect((await t.api('/api/v1/namespaces/default/configmaps', { method: 'POST', json: { metadata: { name: 'shared-settings' }, data: { colour: 'blue' } } })).status).toBe(201);
    await page.goto(`${t.url}/resources/core/v1/configmaps/shared-settings?namespace=default`);
    const editor = page.getByLabel('YAML editor');
    await expect.poll(() => editor.inputValue().catch(() => ''), { timeout: 30_000 }).toMatch(/colour: blue/);
    // Someone else changes it meanwhile: the page's copy (its resourceVersion) is stale.
    expect((await t.api('/api/v1/namespaces/default/configmaps/shared-settings', { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { data: { colour: 'green' } } })).status).toBe(200);
    await editor.fill((await editor.inputValue()).replace('colour: blue', 'colour: red'));
    const answer = page.waitForResponse((r) => r.request().method() === 'PUT' && r.url().includes('/configmaps/shared-settings'));
    await page.getByRole('button', { name: 'Save' }).click();
    const res = await answer;
    expect(res.status()).toBe(409);
    const status = (await res.json()) as { kind: string; message: string };
    expect(status).toMatchObject({ kind: 'Status', message: expect.stringMatching(/Operation cannot be fulfilled on configmaps "shared-settings": the object has been modified/) });
    // The server's own message, where the user is working; no "saved".
    const problem = page.getByTestId('resource-error');
    await expect(problem.textContent()).resolves.toContain(status.message);
    expect(await page.getByTestId('resource-saved').count()).toBe(0);
    await page.screenshot({ path: artifact('write-refused.png') });
    // Nothing changed on the server: the other writer's value stands; the user's edit stays in the editor to redo.
    expect(((await (await t.api('/api/v1/namespaces/default/configmaps/shared-settings')).json()) as { data: Record<string, string> }).data).toEqual({ colour: 'green' });
    await expect(editor.inputValue()).resolves.toMatch(/colour: red/);
  });

  it('shows an extension\'s details: its README rendered as Markdown, raw HTML and script links never executed', async () => {
    await nav(page).getByRole('link', { name: 'Extension Center' }).click();
    await page.getByTestId('extension-card-throws-page').getByRole('link', { name: 'Details' }).click();
    const readme = page.getByTestId('extension-readme');
    await readme.getByRole('heading', { name: 'Throws Page' }).waitFor();
    await expect(readme.locator('strong').textContent()).resolves.toBe('throws');
    await expect(readme.getByRole('listitem').textContent()).resolves.toBe('it is only a test');
    await expect(readme.getByRole('cell', { name: 'tables' }).count()).resolves.toBe(1); // GitHub-flavoured
    expect(await readme.locator('script, img[onerror], [href^="javascript:"]').count()).toBe(0);
    const ran = await page.evaluate(() => {
      const w = window as unknown as Record<string, unknown>;
      return [w.readmeScriptRan, w.readmeImageRan, w.readmeLinkRan];
    });
    expect(ran).toEqual([undefined, undefined, undefined]);
    await expect(page.getByTestId('extension-state-throws-page').textContent()).resolves.toBe('Installed');
    await page.screenshot({ path: artifact('extension-details.png') });
  });

  it('shows the icon and screenshots of a version that is not installed, from its package', async () => {
    expect((await t.api(`${ext}/installplans/gallery`)).status).toBe(404);
    await page.goto(`${t.url}/extension-center/extensions/gallery`);
    const loadedWidth = (img: ReturnType<Page['getByTestId']>) => () => img.evaluate((e) => ((e as HTMLImageElement).complete ? (e as HTMLImageElement).naturalWidth : 0)).catch(() => 0);
    const icon = page.getByTestId('extension-icon');
    await expect.poll(loadedWidth(icon), { timeout: 30_000 }).toBe(64);
    await page.getByRole('tab', { name: 'Screenshots' }).click();
    await expect.poll(loadedWidth(page.getByRole('img', { name: 'screenshots/board.png' })), { timeout: 30_000 }).toBe(48);
    await page.screenshot({ path: artifact('extension-details-not-installed.png') });
    // Opened on its own, the SVG is a sandboxed document: the script in it does not run.
    const direct = await admin.newPage();
    const res = await direct.goto(new URL((await icon.getAttribute('src'))!, t.url).href);
    expect(res?.headers()['content-type']).toBe('image/svg+xml');
    expect(await direct.evaluate(() => (window as unknown as { galleryIconScriptRan?: boolean }).galleryIconScriptRan)).toBeUndefined();
    await direct.close();
    expect(await page.evaluate(() => (window as unknown as { galleryIconScriptRan?: boolean }).galleryIconScriptRan)).toBeUndefined();
    expect((await t.api(`${ext}/installplans/gallery`)).status).toBe(404);
  });

  it('installs with a configuration entered in the form generated from the extension\'s JSON Schema, and changes it', async () => {
    const message = async () => {
      await page.goto(`${t.url}/x/hello-world`);
      return (await page.getByTestId('hello-message').textContent({ timeout: 30_000 }).catch(() => '')) ?? '';
    };
    await page.goto(`${t.url}/extension-center`);
    await page.getByTestId('extension-card-hello-world').getByRole('button', { name: 'Uninstall' }).click();
    await nav(page).getByRole('link', { name: 'Hello World' }).waitFor({ state: 'detached', timeout: 60_000 });
    await page.getByTestId('extension-card-hello-world').getByRole('button', { name: 'Install' }).waitFor({ timeout: 60_000 });
    await page.getByTestId('extension-card-hello-world').getByRole('link', { name: 'Details' }).click();
    await page.getByRole('tab', { name: 'Configuration' }).click();
    const form = page.getByTestId('config-form');
    const greeting = form.getByLabel('greeting');
    await expect(greeting.inputValue()).resolves.toBe('Hello'); // the manifest's default
    await greeting.fill('Howdy');
    await page.screenshot({ path: artifact('config-form.png') });
    await form.getByRole('button', { name: 'Install' }).click();
    await expect(page.getByTestId('extension-state-hello-world').textContent({ timeout: 90_000 })).resolves.toMatch(/Pending|Downloading|Installing|Installed/);
    await nav(page).getByRole('link', { name: 'Hello World' }).waitFor({ timeout: 90_000 });
    const plan = await (await t.api(`${ext}/installplans/hello-world`)).json() as { spec: { config?: Record<string, unknown> } };
    expect(plan.spec.config).toEqual({ greeting: 'Howdy' });
    await expect.poll(message, { timeout: 60_000 }).toBe('Howdy, admin!');
    // Changed on the installed extension: the backend restarts with it.
    await page.goto(`${t.url}/extension-center/extensions/hello-world`);
    await page.getByRole('tab', { name: 'Configuration' }).click();
    await expect(form.getByLabel('greeting').inputValue()).resolves.toBe('Howdy');
    await form.getByLabel('greeting').fill('Bonjour');
    await form.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Configuration saved').waitFor();
    await expect.poll(message, { timeout: 60_000 }).toBe('Bonjour, admin!');
    // A configuration the core refuses (written past the form, through the API): its reason is shown above the form, and the form fixes it.
    expect((await t.api(`${ext}/installplans/hello-world`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { spec: { config: { greeting: 5 } } } })).status).toBe(200);
    await page.goto(`${t.url}/extension-center/extensions/hello-world`);
    await expect(page.getByTestId('install-failure').textContent({ timeout: 60_000 })).resolves.toMatch(/spec\.config is invalid: \/greeting must be string/);
    await page.screenshot({ path: artifact('config-refused.png') });
    await page.getByRole('tab', { name: 'Configuration' }).click();
    await form.getByLabel('greeting').fill('Salut');
    await form.getByRole('button', { name: 'Save' }).click();
    await page.getByTestId('install-failure').waitFor({ state: 'detached', timeout: 60_000 });
    await expect.poll(message, { timeout: 60_000 }).toBe('Salut, admin!');
  }, 240_000);

  it('renders in Chinese', async () => {
    await nav(page).getByRole('link', { name: 'Overview' }).click();
    await page.getByText('中文').click();
    await nav(page).getByRole('link', { name: '扩展中心' }).waitFor();
    await nav(page).getByRole('link', { name: '你好，世界' }).click();
    await page.getByText('后端说：').waitFor();
    await page.screenshot({ path: artifact('chinese.png') });
    await page.getByText('English').click();
  });
});
