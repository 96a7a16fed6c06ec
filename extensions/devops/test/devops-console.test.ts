import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildFrontend } from '@mortise/extension-sdk/federation';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundledRepository, registerBundledRepository } from '../../../core/src/extensions/bundled-repository.js';
import { adminPassword, eventually, startTestCore, workspace, type TestCore } from '../../../core/test/support/test-core.js';
import { artifact, launchChromium, signInThroughPage } from '../../../core/test/support/browser.js';

// The DevOps pages in a real browser against a real core: the run page follows the log live,
// approves, and shows a tab another extension contributed to devops.mortise.io/run-tabs; the
// pipeline editor checks YAML against the CRD's schema.

const devopsDir = join(import.meta.dirname, '..');
const fixtures = join(import.meta.dirname, 'fixtures');
const ext = '/apis/extensions.mortise.io/v1alpha1';
const devops = '/apis/devops.mortise.io/v1alpha1/namespaces/ci';
const kapi = '/kapis/devops.mortise.io/v1alpha1/namespaces/ci';

describe('DevOps console pages', () => {
  let t: TestCore;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const base = () => `${t.url}/workspaces/team/namespaces/ci/x/devops`;
  const phase = async (run: string) => ((await (await t.api(`${devops}/pipelineruns/${run}`)).json()) as { status?: { phase?: string } }).status?.phase;

  beforeAll(async () => {
    if (!existsSync(join(devopsDir, 'dist', 'frontend', 'remoteEntry.js'))) throw new Error('the DevOps frontend is not built: run `npm run build` (npm test does)');
    await buildFrontend(join(fixtures, 'run-tab'));
    t = await startTestCore({ backendReadyTimeoutMs: 15_000 });
    const repo = await buildBundledRepository([join(devopsDir, '..'), fixtures], mkdtempSync(join(tmpdir(), 'mortise-devops-console-repo-')), t.core.logger);
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
});
