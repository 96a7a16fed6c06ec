import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundledRepository } from '../../../core/src/extensions/bundled-repository.js';
import { createLogger } from '../../../core/src/ops/logger.js';
import { artifact, launchChromium, signInThroughPage } from '../../../core/test/support/browser.js';
import { installPlan, setPlanEnabled } from './install-plans.js';
import { adminPassword, call, eventually, login, startTestCore, workspace, type TestCore } from '../../../core/test/support/test-core.js';

// The devops extension's run logs stored by the logging extension, both installed from the
// bundled repository into a real core: logging runs alone, then devops installed later is
// found and its runs stored line for line as devops' own log API gives them, in the run's
// namespace and workspace; devops runs while logging is disabled (a run it never saw, one it
// saw start) and everything arrives once it is enabled again, exactly once; the run page's
// Logs tab (in Chromium) shows exactly that run's lines.

const extensionsDir = join(import.meta.dirname, '..', '..');
const ext = '/apis/extensions.mortise.io/v1alpha1';
const iam = '/apis/iam.mortise.io/v1alpha1';
const devops = '/apis/devops.mortise.io/v1alpha1/namespaces/ci';
const kapi = '/kapis/devops.mortise.io/v1alpha1/namespaces/ci';
const loki = '/proxy/logging/loki/api/v1';

interface Streams { data: { result: Array<{ stream: Record<string, string>; values: Array<[string, string]> }> } }
interface LogEvent { id: number; stage?: string; step?: string; kind: 'out' | 'err' | 'marker'; text: string }

const streamOf = { out: 'stdout', err: 'stderr', marker: 'marker' } as const;

describe('devops run logs in the logging extension', () => {
  let t: TestCore;
  let browser: Browser | undefined;
  const work = mkdtempSync(join(tmpdir(), 'mortise-devops-logs-'));
  const runs: Record<string, string> = {};

  const install = (name: string, config: Record<string, unknown> = {}) => installPlan(t, name, config);
  const setEnabled = (name: string, enabled: boolean) => setPlanEnabled(t, name, enabled);
  const startRun = async (pipeline: string) => {
    const res = await t.api(`${kapi}/pipelines/${pipeline}/run`, { method: 'POST', json: { parameters: {} } });
    expect(res.status, await res.clone().text()).toBe(201);
    return ((await res.json()) as { metadata: { name: string } }).metadata.name;
  };
  const finished = (run: string) => eventually(async () => {
    const phase = ((await (await t.api(`${devops}/pipelineruns/${run}`)).json()) as { status?: { phase?: string } }).status?.phase;
    return phase === 'Succeeded' || phase === 'Failed' ? phase : undefined;
  }, 60_000, `run ${run} finished`);

  /** The run's log as the devops API gives it (SSE until `end`), as "stage|step|stream|text". */
  const devopsLog = async (run: string) => {
    const text = await (await t.api(`${kapi}/pipelineruns/${run}/log`)).text();
    return text.split('\n\n').filter((b) => /^event: log$/m.test(b)).map((b) => JSON.parse(/^data: (.*)$/m.exec(b)![1]!) as LogEvent)
      .map((e) => `${e.stage ?? ''}|${e.step ?? ''}|${streamOf[e.kind]}|${e.text}`);
  };
  /** The run's lines as the logging extension stores them, oldest first, in the same shape. */
  const stored = async (run: string, token = t.token) => {
    const now = Math.floor(Date.now() / 1000);
    const qs = new URLSearchParams({ query: `{source="devops", run="${run}"}`, direction: 'forward', limit: '5000', start: String(now - 3600), end: String(now + 60) });
    const res = await call(t.url, token, `${loki}/query_range?${qs}`);
    expect(res.status).toBe(200);
    const result = ((await res.json()) as Streams).data.result;
    return {
      streams: result.map((s) => s.stream),
      lines: result.flatMap((s) => s.values.map(([ts, line]) => ({ ts: BigInt(ts), line: `${s.stream.stage ?? ''}|${s.stream.step ?? ''}|${s.stream.stream}|${line}` })))
        .sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0)).map((l) => l.line),
    };
  };
  const storedEqualsDevops = (run: string) => eventually(async () => {
    const want = await devopsLog(run);
    const got = (await stored(run)).lines;
    return want.length > 0 && JSON.stringify(got) === JSON.stringify(want) ? got : undefined;
  }, 45_000, `the lines of ${run} stored exactly as devops logged them`).catch(async (e: unknown) => {
    throw new Error(`${(e as Error).message}\nwant ${JSON.stringify(await devopsLog(run))}\ngot  ${JSON.stringify((await stored(run)).lines)}`);
  });

  beforeAll(async () => {
    t = await startTestCore({ backendReadyTimeoutMs: 15_000 });
    const repo = await buildBundledRepository([extensionsDir], join(work, 'repo'), createLogger({ level: 'silent' }));
    expect(repo.extensions).toEqual(expect.arrayContaining(['devops', 'logging']));
    expect((await t.api(`${ext}/repositories`, { method: 'POST', json: { metadata: { name: 'local' }, spec: { url: repo.url } } })).status).toBe(201);
    for (const name of ['devops', 'logging']) await eventually(async () => (await t.api(`${ext}/extensionversions/${name}-0.1.0`)).status === 200, 20_000, `${name} offered`);
    await install('logging');
    expect((await t.api('/apis/tenant.mortise.io/v1alpha1/workspaces', { method: 'POST', json: workspace('team') })).status).toBe(201);
    expect((await t.api('/apis/tenant.mortise.io/v1alpha1/workspaces', { method: 'POST', json: workspace('other') })).status).toBe(201);
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await t?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('logging runs alone; devops installed later is found and its runs stored, in the run\'s namespace and workspace', async () => {
    expect((await call(t.url, t.token, `${loki}/status/buildinfo`)).status).toBe(200);
    await install('devops');
    expect((await t.api('/api/v1/namespaces', { method: 'POST', json: { metadata: { name: 'ci', labels: { 'tenant.mortise.io/workspace': 'team' } } } })).status).toBe(201);
    for (const [name, stages] of [
      ['build', [
        { name: 'compile', steps: [{ sh: 'echo compiling; echo a-warning >&2' }] },
        { name: 'test', parallel: [{ name: 'unit', steps: [{ sh: 'for i in 1 2 3; do echo unit-$i; done' }] }, { name: 'lint', steps: [{ sh: 'echo lint-ok' }] }] },
      ]],
      ['slow', [{ name: 'count', steps: [{ sh: 'for i in $(seq 1 40); do echo line-$i; sleep 0.1; done' }] }]],
    ] as const) {
      const res = await t.api(`${devops}/pipelines`, { method: 'POST', json: { apiVersion: 'devops.mortise.io/v1alpha1', kind: 'Pipeline', metadata: { name }, spec: { stages } } });
      expect(res.status, await res.clone().text()).toBe(201);
    }
    runs.a = await startRun('build');
    expect(await finished(runs.a)).toBe('Succeeded');
    expect(await devopsLog(runs.a)).toEqual(expect.arrayContaining(['test|unit/sh-0|stdout|unit-2', 'compile|sh-0|stderr|a-warning']));
    await storedEqualsDevops(runs.a);
    const { streams } = await stored(runs.a);
    expect(streams).toContainEqual({ source: 'devops', namespace: 'ci', workspace: 'team', pipeline: 'build', run: runs.a, stage: 'test', step: 'unit/sh-0', stream: 'stdout' });
    expect(streams).toContainEqual({ source: 'devops', namespace: 'ci', workspace: 'team', pipeline: 'build', run: runs.a, stage: 'compile', step: 'sh-0', stream: 'stderr' });
  });

  it('a run while both are installed is stored line for line, and only for those who may read the namespace\'s logs', async () => {
    runs.b = await startRun('build');
    await finished(runs.b);
    await storedEqualsDevops(runs.b);

    // A member of the run's workspace reads its lines; one of another workspace reads none,
    // even naming the namespace.
    for (const [user, ws] of [['dana', 'team'], ['erin', 'other']] as const) {
      expect((await t.api(`${iam}/users`, { method: 'POST', json: { metadata: { name: user }, spec: { password: `${user}-Password-9x` } } })).status).toBe(201);
      await eventually(async () => (await t.api(`${iam}/workspaceroles/${ws}-viewer`)).status === 200, 5000, 'workspace roles');
      expect((await t.api(`${iam}/workspacerolebindings`, { method: 'POST', json: {
        metadata: { name: `${ws}-${user}`, labels: { 'tenant.mortise.io/workspace': ws } }, roleRef: { apiGroup: 'iam.mortise.io', kind: 'WorkspaceRole', name: `${ws}-viewer` },
        subjects: [{ kind: 'User', apiGroup: 'iam.mortise.io', name: user }],
      } })).status).toBe(201);
    }
    const dana = await login(t.url, 'dana', 'dana-Password-9x');
    const erin = await login(t.url, 'erin', 'erin-Password-9x');
    expect((await stored(runs.b, dana)).lines).toEqual(await devopsLog(runs.b));
    expect((await stored(runs.b, erin)).lines).toEqual([]);
  });

  it('devops runs while logging is disabled (from the middle of a run, and a whole run): every line arrives once it is back, earlier runs are not stored twice', async () => {
    runs.c = await startRun('slow');
    await eventually(async () => (await stored(runs.c!)).lines.some((l) => l.endsWith('|line-3')), 20_000, 'the first lines stored while the run goes on');
    await setEnabled('logging', false);
    expect(await finished(runs.c)).toBe('Succeeded');
    runs.d = await startRun('build');
    expect(await finished(runs.d)).toBe('Succeeded');
    await setEnabled('logging', true);
    const got = await storedEqualsDevops(runs.c);
    expect(got.filter((l) => /\|line-\d+$/.test(l))).toHaveLength(40);
    await storedEqualsDevops(runs.d);
    for (const run of [runs.a!, runs.b!]) expect((await stored(run)).lines).toEqual(await devopsLog(run));
  });

  it('the run page\'s Logs tab shows exactly that run\'s lines, oldest first, each with its step', async () => {
    expect(existsSync(join(extensionsDir, 'logging', 'dist', 'frontend', 'remoteEntry.js')), 'build the frontends first: npm run build').toBe(true);
    browser = await launchChromium();
    const page = await (await browser.newContext({ locale: 'en-US' })).newPage();
    await signInThroughPage(page, t.url, 'admin', adminPassword);
    await page.goto(`${t.url}/workspaces/team/namespaces/ci/x/devops/runs/${runs.a}`);
    await page.getByTestId('run-tab-logging-logs').click({ timeout: 60_000 });
    const want = (await devopsLog(runs.a!)).map((l) => l.split('|').slice(3).join('|'));
    await expect.poll(async () => (await page.getByTestId('log-line').locator('code').allTextContents()), { timeout: 30_000 }).toEqual(want);
    // Each line names its step (the equality above: nothing of the pipeline's other run).
    const unit = page.getByTestId('log-line').filter({ hasText: 'unit-1' });
    expect(await unit.getByTestId('log-label-step').textContent()).toBe('unit/sh-0');
    await page.screenshot({ path: artifact('devops-run-logs-tab.png'), fullPage: true });
  });
});
