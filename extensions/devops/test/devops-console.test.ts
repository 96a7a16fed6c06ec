import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildFrontend } from '@mortise/extension-sdk/federation';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundledRepository, registerBundledRepository } from '../../../core/src/extensions/bundled-repository.js';
import { adminPassword, call, eventually, login, startTestCore, workspace, type TestCore } from '../../../core/test/support/test-core.js';
import { artifact, launchChromium, signInThroughPage } from '../../../core/test/support/browser.js';

// The DevOps pages in a real browser against a real core: the run page follows the log live,
// approves, and shows a tab another extension contributed to devops.mortise.io/run-tabs; the
// pipeline editor checks YAML against the CRD's schema.

const devopsDir = join(import.meta.dirname, '..');
const fixtures = join(import.meta.dirname, 'fixtures');
const ext = '/apis/extensions.mortise.io/v1alpha1';
const devops = '/apis/devops.mortise.io/v1alpha1/namespaces/ci';
const kapi = '/kapis/devops.mortise.io/v1alpha1/namespaces/ci';
const iam = '/apis/iam.mortise.io/v1alpha1';

describe('DevOps console pages', () => {
  let t: TestCore;
  let repoDir: string | undefined;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const base = () => `${t.url}/workspaces/team/namespaces/ci/x/devops`;
  const phase = async (run: string) => ((await (await t.api(`${devops}/pipelineruns/${run}`)).json()) as { status?: { phase?: string } }).status?.phase;

  beforeAll(async () => {
    if (!existsSync(join(devopsDir, 'dist', 'frontend', 'remoteEntry.js'))) throw new Error('the DevOps frontend is not built: run `npm run build` (npm test does)');
    await buildFrontend(join(fixtures, 'run-tab'));
    t = await startTestCore({ backendReadyTimeoutMs: 15_000 });
    repoDir = mkdtempSync(join(tmpdir(), 'mortise-devops-console-repo-'));
    const repo = await buildBundledRepository([join(devopsDir, '..'), fixtures], repoDir, t.core.logger);
    expect(repo.extensions).toEqual(expect.arrayContaining(['devops', 'run-tab']));
    await registerBundledRepository(t.core.service, t.core.kinds, repo.url);
    for (const name of ['devops', 'run-tab']) {
      await eventually(async () => (await t.api(`${ext}/extensionversions/${name}-0.1.0`)).status === 200, 20_000, `${name} offered`);
      expect((await t.api(`${ext}/installplans`, { method: 'POST', json: { metadata: { name }, spec: { extension: { name, version: '0.1.0' }, enabled: true } } })).status).toBe(201);
    }
    for (const name of ['devops', 'run-tab']) {
      await eventually(async () => ((await (await t.api(`${ext}/installplans/${name}`)).json()) as { status?: { state?: string } }).status?.state === 'Installed', 60_000, `${name} installed`);
    }
    expect((await t.api('/apis/tenant.mortise.io/v1alpha1/workspaces', { method: 'POST', json: workspace('team') })).status).toBe(201);
    expect((await t.api('/api/v1/namespaces', { method: 'POST', json: { metadata: { name: 'ci', labels: { 'tenant.mortise.io/workspace': 'team' } } } })).status).toBe(201);
    browser = await launchChromium();
    page = await (await browser.newContext({ locale: 'en-US' })).newPage();
    page.on('pageerror', (e) => pageErrors.push(e.stack ?? e.message));
    page.on('console', (m) => m.type() === 'error' && pageErrors.push(m.text()));
    await signInThroughPage(page, t.url, 'admin', adminPassword);
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await t?.close();
    if (repoDir) rmSync(repoDir, { recursive: true, force: true });
  });

  it('the run page shows the stage graph and the log as it is written, approves, and lists artifacts', async () => {
    const created = await t.api(`${devops}/pipelines`, {
      method: 'POST', json: {
        apiVersion: 'devops.mortise.io/v1alpha1', kind: 'Pipeline', metadata: { name: 'slow' },
        spec: { stages: [
          { name: 'talk', steps: [{ sh: 'echo first-line; sleep 4; echo second-line' }] },
          { name: 'gate', steps: [{ approval: { approvers: ['admin'] } }] },
          { name: 'pack', steps: [{ sh: 'echo packed > out.txt' }, { archive: 'out.txt' }] },
        ] },
      },
    });
    expect(created.status).toBe(201);
    const run = ((await (await t.api(`${kapi}/pipelines/slow/run`, { method: 'POST', json: { parameters: {} } })).json()) as { metadata: { name: string } }).metadata.name;
    await page.goto(`${base()}/runs/${run}`);
    await page.getByTestId('stage-graph').waitFor({ timeout: 30_000 });
    const log = page.getByTestId('run-log');
    // The first line is on the page while the step is still running: live, not after the fact.
    await log.getByText('first-line').waitFor({ timeout: 20_000 }).catch(async (e: unknown) => {
      await page.screenshot({ path: artifact('devops-run-failed.png') });
      throw new Error(`${(e as Error).message}; errors in the page: ${pageErrors.join(' | ')}`);
    });
    expect(await log.textContent()).not.toContain('second-line');
    expect(await phase(run)).toBe('Running');
    await log.getByText('second-line').waitFor({ timeout: 20_000 });
    await page.getByTestId('run-approve').click({ timeout: 20_000 });
    await expect.poll(() => page.getByTestId('run-phase').textContent(), { timeout: 20_000 }).toBe('Succeeded');
    expect(await page.getByTestId('stage-gate').getAttribute('data-phase')).toBe('Succeeded');
    expect(await page.getByTestId('stage-graph').textContent()).toContain('✓ admin');
    // Picking a step narrows the log to it.
    await page.getByTestId('step-pack/sh-0').click();
    await expect.poll(() => log.textContent()).not.toContain('first-line');
    await page.getByTestId('run-tab-artifacts').click();
    await page.getByTestId('run-artifacts').getByText('out.txt').waitFor();
    await page.screenshot({ path: artifact('devops-run.png') });
  });

  it('a tab another extension contributes to devops.mortise.io/run-tabs renders with the run\'s props', async () => {
    const runs = ((await (await t.api(`${devops}/pipelineruns`)).json()) as { items: Array<{ metadata: { name: string }; status: { startTime: string; completionTime: string } }> }).items;
    const done = runs[0]!;
    await page.goto(`${base()}/runs/${done.metadata.name}`);
    await page.getByTestId('run-tab-run-tab-props').click({ timeout: 30_000 }).catch(async (e: unknown) => {
      await page.screenshot({ path: artifact('devops-run-tabs-failed.png') });
      throw e;
    });
    const shown = JSON.parse((await page.getByTestId('run-tab-props').textContent({ timeout: 30_000 }))!) as Record<string, string>;
    expect(shown).toEqual({ namespace: 'ci', pipeline: 'slow', run: done.metadata.name, startTime: done.status.startTime, completionTime: done.status.completionTime });
  });

  it('the pipeline editor checks the YAML against the schema and draws the stages', async () => {
    await page.goto(`${base()}/pipelines/new`);
    await page.getByTestId('pipeline-valid').waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('stage-graph').textContent()).toContain('build');
    const yaml = page.getByTestId('pipeline-yaml');
    await yaml.fill('apiVersion: devops.mortise.io/v1alpha1\nkind: Pipeline\nmetadata: {name: broken}\nspec:\n  stages: []\n');
    await expect.poll(() => page.getByTestId('pipeline-problems').textContent(), { timeout: 15_000 }).toMatch(/spec\.stages/);
    await yaml.fill('apiVersion: devops.mortise.io/v1alpha1\nkind: Pipeline\nmetadata: {name: fixed}\nspec:\n  stages:\n    - {name: one, steps: [{sh: "true"}]}\n    - {name: two, parallel: [{name: x, steps: [{sh: "true"}]}, {name: y, steps: [{sh: "true"}]}]}\n');
    await page.getByTestId('pipeline-valid').waitFor({ timeout: 15_000 });
    expect(await page.getByTestId('stage-graph').textContent()).toMatch(/one.*two.*x.*y/s);
    // Validation was a dry run: nothing was created until Save.
    expect((await t.api(`${devops}/pipelines/fixed`)).status).toBe(404);
    await page.getByTestId('pipeline-save').click();
    await eventually(async () => (await t.api(`${devops}/pipelines/fixed`)).status === 200, 10_000, 'the pipeline saved');
  });
  it('the Run button asks for the pipeline\'s parameters, typed by their definitions, and the run gets them', async () => {
    expect((await t.api(`${devops}/pipelines`, {
      method: 'POST', json: {
        apiVersion: 'devops.mortise.io/v1alpha1', kind: 'Pipeline', metadata: { name: 'params' },
        spec: {
          parameters: [
            { name: 'TARGET', type: 'choice', choices: ['staging', 'production'], description: 'Where to deploy' },
            { name: 'DRY', type: 'boolean', default: 'true' },
            { name: 'NOTE', default: 'none' },
          ],
          stages: [{ name: 'say', steps: [{ sh: 'echo "target=$PARAM_TARGET dry=$PARAM_DRY note=$PARAM_NOTE"' }] }],
        },
      },
    })).status).toBe(201);
    // The API refuses a value of the wrong kind, naming the parameter.
    const bad = await t.api(`${kapi}/pipelines/params/run`, { method: 'POST', json: { parameters: { TARGET: 'moon', DRY: 'maybe' } } });
    expect(bad.status).toBe(422);
    const status = (await bad.json()) as { message: string; details: { causes: Array<{ field: string }> } };
    expect(status.details.causes.map((c) => c.field)).toEqual(['parameters.TARGET', 'parameters.DRY']);
    expect(status.message).toMatch(/supported values: "staging", "production"/);
    await page.goto(base());
    await page.getByTestId('run-params').click({ timeout: 30_000 });
    const form = page.getByTestId('run-form');
    // Each input starts at the definition's default (a choice without one: its first choice).
    expect(await form.getByTestId('param-TARGET').inputValue()).toBe('staging');
    expect(await form.getByTestId('param-DRY').isChecked()).toBe(true);
    expect(await form.getByTestId('param-NOTE').inputValue()).toBe('none');
    await form.getByTestId('param-TARGET').selectOption('production');
    await form.getByTestId('param-DRY').uncheck();
    await form.getByTestId('param-NOTE').fill('from the form');
    await form.getByTestId('run-start').click();
    await page.waitForURL(/\/runs\/params-/, { timeout: 15_000 });
    await page.getByTestId('run-log').getByText('target=production dry=false note=from the form').waitFor({ timeout: 30_000 });
    const run = decodeURIComponent(page.url().split('/runs/')[1]!);
    const stored = (await (await t.api(`${devops}/pipelineruns/${run}`)).json()) as { spec: { parameters: Record<string, string>; triggeredBy: string } };
    expect(stored.spec).toMatchObject({ parameters: { TARGET: 'production', DRY: 'false', NOTE: 'from the form' }, triggeredBy: 'admin' });
  });

  it('the core\'s role editor offers the templates devops brings; a workspace role of "run" (and the "view" it needs) lets a bound user run but not edit', async () => {
    expect((await t.api(`${iam}/users`, { method: 'POST', json: { metadata: { name: 'rita' }, spec: { password: 'rita-password-1' } } })).status).toBe(201);
    expect((await t.api(`${devops}/pipelines`, { method: 'POST', json: { apiVersion: 'devops.mortise.io/v1alpha1', kind: 'Pipeline', metadata: { name: 'quick' }, spec: { stages: [{ name: 'one', steps: [{ sh: 'echo quick' }] }] } } })).status).toBe(201);
    await page.goto(`${t.url}/workspaces/team/roles`);
    await page.getByTestId('roles-table').waitFor({ timeout: 30_000 });
    await page.getByTestId('role-new').click();
    const group = page.getByTestId('template-group-devops');
    await group.waitFor({ timeout: 15_000 });
    // Grouped under the extension's display name (the group shows the extension's name until the
    // list of extensions has arrived), each template with its localized name and description.
    await expect.poll(() => group.textContent(), { timeout: 15_000 }).toMatch(/^DevOps.*View pipelines.*See projects, pipelines and runs/s);
    expect(await group.textContent()).toContain('Requires: View pipelines');
    // The core's own templates under "Platform": those for namespaces and workspaces, not the platform-wide ones.
    const core = await page.getByTestId('template-group-core').textContent();
    expect(core).toMatch(/^Platform.*Manage ConfigMaps.*Manage namespaces/s);
    expect(core).not.toContain('Manage users');
    // A name the API refuses: its Status is shown in place, nothing is written.
    await page.getByTestId('role-name').fill('Not A Name');
    await page.getByTestId('role-save').click();
    await expect.poll(() => page.getByTestId('role-error').textContent(), { timeout: 10_000 }).toMatch(/metadata\.name/);
    await page.getByTestId('role-name').fill('pipeline-runner');
    // Choosing "run" chooses the "view" it depends on, which cannot be unchosen while "run" is.
    await page.getByTestId('template-devops-pipelines-run').check();
    expect(await page.getByTestId('template-devops-pipelines-view').isChecked()).toBe(true);
    expect(await page.getByTestId('template-devops-pipelines-view').isDisabled()).toBe(true);
    expect(await page.getByTestId('template-devops-pipelines-edit').isChecked()).toBe(false);
    expect(await page.getByTestId('role-rules').textContent()).toContain('create pipelines/run,pipelineruns (devops.mortise.io)');
    await page.getByTestId('role-save').click();
    await page.getByTestId('role-saved').waitFor({ timeout: 10_000 });
    const role = (await (await t.api(`${iam}/workspaceroles/pipeline-runner`)).json()) as { metadata: { labels: Record<string, string> }; aggregationRoleTemplates: { templateNames: string[] } };
    expect(role.metadata.labels['tenant.mortise.io/workspace']).toBe('team');
    expect(role.aggregationRoleTemplates.templateNames).toEqual(['devops-pipelines-run', 'devops-pipelines-view']);
    await page.getByTestId('role-bind-user').fill('rita');
    await page.getByTestId('role-bind').click();
    await expect.poll(() => page.getByTestId('role-members').textContent(), { timeout: 10_000 }).toContain('rita');
    await page.screenshot({ path: artifact('role-editor.png') });
    // The core aggregates the templates: rita may run the pipeline and read it, not change it.
    const rita = await login(t.url, 'rita', 'rita-password-1');
    const ran = await call(t.url, rita, `${kapi}/pipelines/quick/run`, { method: 'POST', json: { parameters: {} } });
    expect(ran.status, await ran.clone().text()).toBe(201);
    expect((await call(t.url, rita, `${devops}/pipelines/quick`)).status).toBe(200);
    const edit = await call(t.url, rita, `${devops}/pipelines/quick`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { spec: { env: { X: '1' } } } });
    expect(edit.status).toBe(403);
    expect((await call(t.url, rita, `${devops}/pipelines/quick`, { method: 'DELETE' })).status).toBe(403);
  });
  it('the role editor follows installs: uninstalled, devops\' templates leave the open editor; installed again, they come back', async () => {
    // The editor of the role above is open (the role was saved and stays selected).
    await page.getByTestId('template-group-devops').waitFor();
    expect((await t.api(`${ext}/installplans/devops`, { method: 'DELETE' })).status).toBeLessThan(300);
    await page.getByTestId('template-group-devops').waitFor({ state: 'detached', timeout: 60_000 });
    // The role still names them; the editor says they grant nothing now.
    await page.getByText(/no longer installed.*devops-pipelines-run/).waitFor();
    await eventually(async () => (await t.api(`${ext}/installplans/devops`)).status === 404, 60_000, 'devops uninstalled');
    expect((await t.api(`${ext}/installplans`, { method: 'POST', json: { metadata: { name: 'devops' }, spec: { extension: { name: 'devops', version: '0.1.0' }, enabled: true } } })).status).toBe(201);
    await page.getByTestId('template-group-devops').waitFor({ timeout: 60_000 });
    expect(await page.getByTestId('template-devops-pipelines-run').isChecked()).toBe(true);
  });
});
