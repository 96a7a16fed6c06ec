import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundledRepository } from '../../../core/src/extensions/bundled-repository.js';
import { createLogger } from '../../../core/src/ops/logger.js';
import { artifact, launchChromium, signInThroughPage } from '../../../core/test/support/browser.js';
import { adminPassword, call, eventually, startTestCore, type TestCore } from '../../../core/test/support/test-core.js';

// The logging extension's console module (built by `mortise-ext build`, as `npm run build` does)
// in headless Chromium: the search page with its query field, builder, histogram, highlighted
// lines and context; the live tail; the "Logs" tabs on a namespace and on an installed extension.

const extensionsDir = join(import.meta.dirname, '..', '..');
const ext = '/apis/extensions.mortise.io/v1alpha1';
const iam = '/apis/iam.mortise.io/v1alpha1';

describe('the logging extension in the console', () => {
  let t: TestCore;
  let browser: Browser;
  let page: Page;
  let shipper: string;
  const work = mkdtempSync(join(tmpdir(), 'mortise-logging-console-'));

  const push = async (lines: string[], app = 'checkout') => {
    const now = BigInt(Date.now()) * 1_000_000n;
    const res = await call(t.url, shipper, '/proxy/logging/loki/api/v1/push', {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ streams: [{ stream: { app }, values: lines.map((l, i) => [String(now + BigInt(i)), l]) }] }),
    });
    expect(res.status).toBe(204);
  };

  beforeAll(async () => {
    expect(existsSync(join(extensionsDir, 'logging', 'dist', 'frontend', 'remoteEntry.js')), 'build the frontend first: npm run build (mortise-ext build extensions/logging)').toBe(true);
    t = await startTestCore();
    const repo = await buildBundledRepository([extensionsDir], join(work, 'repo'), createLogger({ level: 'silent' }));
    const created = async (path: string, body: unknown) => {
      const res = await t.api(path, { method: 'POST', json: body });
      expect(res.status, `${path}: ${await res.clone().text()}`).toBe(201);
      return (await res.json()) as { status?: { token?: string } };
    };
    await created(`${ext}/repositories`, { metadata: { name: 'local' }, spec: { url: repo.url } });
    await eventually(async () => (await t.api(`${ext}/extensionversions/logging-0.1.0`)).status === 200, 20_000, 'repository synced');
    await created(`${ext}/installplans`, { metadata: { name: 'logging' }, spec: { extension: { name: 'logging', version: '0.1.0' }, enabled: true } });
    await eventually(async () => ((await (await t.api(`${ext}/installplans/logging`)).json()) as { status?: { state?: string } }).status?.state === 'Installed', 90_000, 'logging installed');
    await created('/api/v1/namespaces', { metadata: { name: 'shop' } });
    await created(`${iam}/namespaces/shop/serviceaccounts`, { metadata: { name: 'shipper' } });
    await created(`${iam}/namespaces/shop/roles`, { metadata: { name: 'log-pusher' }, rules: [{ apiGroups: ['logging.mortise.io'], resources: ['logs'], verbs: ['create'] }] });
    await created(`${iam}/namespaces/shop/rolebindings`, { metadata: { name: 'shipper-pushes' }, roleRef: { apiGroup: 'iam.mortise.io', kind: 'Role', name: 'log-pusher' }, subjects: [{ kind: 'User', apiGroup: 'iam.mortise.io', name: 'system:serviceaccount:shop:shipper' }] });
    shipper = (await created(`${iam}/namespaces/shop/serviceaccounts/shipper/tokens`, {})).status!.token!;
    await push(['GET /cart status=200', 'POST /pay payment declined code=51', 'GET /cart status=304']);

    browser = await launchChromium();
    page = await (await browser.newContext({ locale: 'en-US' })).newPage();
    await signInThroughPage(page, t.url, 'admin', adminPassword);
  }, 240_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('searches with a LogQL query: lines with the match highlighted, a histogram, context around a line', async () => {
    await page.getByTestId('navigation').getByRole('link', { name: 'Logs' }).click({ timeout: 60_000 });
    const field = page.getByTestId('logql-input');
    await field.fill('{namespace="shop"} |= "payment"');
    await page.getByTestId('log-run').click();
    await expect.poll(() => page.getByTestId('log-line').allTextContents(), { timeout: 15_000 }).toEqual([expect.stringContaining('POST /pay payment declined code=51')]);
    expect(await page.getByTestId('log-line').locator('mark').allTextContents()).toEqual(['payment']);
    // One bar with the match in the histogram.
    await expect.poll(() => page.getByTestId('log-histogram').locator('.recharts-bar-rectangle path').count()).toBeGreaterThan(0);
    await page.getByTestId('log-line').first().click();
    await expect.poll(() => page.getByTestId('log-context').textContent()).toMatch(/GET \/cart status=200.*POST \/pay payment.*GET \/cart status=304/);
    // The builder writes the query: a line filter typed in, the field follows.
    await page.getByTestId('log-contains').fill('cart');
    await expect.poll(() => field.inputValue()).toBe('{namespace=~".+"} |= "cart"');
    await field.fill('{app="checkout"} |= "cart"');
    await page.getByTestId('log-run').click();
    await expect.poll(() => page.getByTestId('log-line').count(), { timeout: 15_000 }).toBe(2);
    await page.screenshot({ path: artifact('logging-search.png'), fullPage: true });
  });

  it('tails live: a line pushed after the tail starts appears without a reload', async () => {
    await page.goto(`${t.url}/x/logging/`);
    await page.getByTestId('logql-input').fill('{app="live"}');
    await page.getByTestId('log-tail-toggle').click();
    await page.getByTestId('log-tailing').waitFor();
    await eventually(async () => {
      await push([`live line ${Date.now()}`], 'live');
      return (await page.getByTestId('log-line').allTextContents()).some((l) => l.includes('live line'));
    }, 15_000, 'the tailed line in the page');
    await page.getByTestId('log-tail-toggle').click();
  });

  it('shows a "Logs" tab on a namespace and on an installed extension\'s page (its backend\'s log)', async () => {
    await page.goto(`${t.url}/resources/core/v1/namespaces/shop`);
    await page.getByRole('tab', { name: 'Logs' }).click({ timeout: 60_000 });
    await expect.poll(() => page.getByTestId('log-line').allTextContents(), { timeout: 15_000 }).toEqual(expect.arrayContaining([expect.stringContaining('POST /pay payment declined')]));

    // The tab queries once when opened: wait until the backend's own start is stored (it is
    // ingested from the core's backend log a few seconds after the backend starts).
    await eventually(async () => {
      const r = await t.api(`/proxy/logging/loki/api/v1/query_range?query=${encodeURIComponent('{source="extension", extension="logging"} |= "listening on"')}&limit=1`);
      return r.ok && ((await r.json()) as { data: { result: unknown[] } }).data.result.length > 0;
    }, 30_000, 'the logging backend\'s own log stored');
    await page.goto(`${t.url}/extension-center/extensions/logging`);
    await page.getByRole('tab', { name: 'Logs' }).click({ timeout: 60_000 });
    await expect.poll(async () => (await page.getByTestId('log-line').allTextContents()).join('\n'), { timeout: 30_000 }).toContain('logging listening on');
    await page.screenshot({ path: artifact('logging-extension-tab.png'), fullPage: true });
  });
});
