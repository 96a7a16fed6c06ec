import { chromium, type Browser, type Page } from 'playwright-core';

// The console in headless Chromium: what the host makes a browser download before the first
// paint, how soon a signed-in console paints and is usable, and how fast a toggle in one place
// shows in another open console (the watch on JSBundles).

const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface FirstPaint {
  /** Bytes on the wire (gzip) of scripts / stylesheets loaded before the first contentful paint. */
  jsBytes: number;
  cssBytes: number;
  fcpMs: number;
}

export interface SignedInPaint {
  /** First contentful paint: on a signed-in reload, the placeholder shown while the console's chunk loads. */
  fcpMs: number;
  /** When the console's own header was painted (Element Timing of `elementtiming="console-header"`). */
  consolePaintMs: number;
  /** Navigation start → the navigation (with every enabled extension's items) is on screen. */
  interactiveMs: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export const launchBrowser = (): Promise<Browser> => chromium.launch({ executablePath: '/usr/bin/chromium', args: flags });

/** The anonymous first paint (the login page): bytes the host made the browser fetch before it. */
export async function loginFirstPaint(browser: Browser, url: string): Promise<FirstPaint> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  const sizes = new Map<string, number>();
  const kinds = new Map<string, string>();
  const finishedAt = new Map<string, number>();
  cdp.on('Network.responseReceived', (e: { requestId: string; type: string }) => kinds.set(e.requestId, e.type));
  cdp.on('Network.loadingFinished', (e: { requestId: string; encodedDataLength: number; timestamp: number }) => {
    sizes.set(e.requestId, e.encodedDataLength);
    finishedAt.set(e.requestId, e.timestamp);
  });
  await page.goto(url);
  await page.getByLabel('Username').waitFor();
  const fcpMs = await page.evaluate(() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN);
  let jsBytes = 0;
  let cssBytes = 0;
  for (const [id, type] of kinds) {
    if (type === 'Script') jsBytes += sizes.get(id) ?? 0;
    if (type === 'Stylesheet') cssBytes += sizes.get(id) ?? 0;
  }
  await context.close();
  return { jsBytes, cssBytes, fcpMs };
}

async function signIn(page: Page, url: string, password: string): Promise<void> {
  await page.goto(url);
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('user-menu').waitFor();
}

/** A signed-in reload: first contentful paint, and until `ready` (e.g. a nav item) is visible. */
export async function signedInPaint(browser: Browser, url: string, password: string, ready: (p: Page) => Promise<void>, runs = 5): Promise<SignedInPaint> {
  const context = await browser.newContext({ locale: 'en-US' });
  const page = await context.newPage();
  // Element Timing entries are only delivered to observers: record them from the start of each load.
  await page.addInitScript(() => {
    const w = globalThis as unknown as { elementPaints: Record<string, number> };
    w.elementPaints = {};
    new PerformanceObserver((list) => {
      for (const e of list.getEntries() as unknown as Array<{ identifier: string; renderTime: number; loadTime: number }>) w.elementPaints[e.identifier] ??= e.renderTime || e.loadTime;
    }).observe({ type: 'element', buffered: true } as never);
  });
  await signIn(page, url, password);
  const fcp: number[] = [];
  const consolePaint: number[] = [];
  const interactive: number[] = [];
  for (let i = 0; i < runs; i++) {
    await page.reload();
    await ready(page);
    interactive.push(await page.evaluate(() => performance.now()));
    fcp.push(await page.evaluate(() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN));
    consolePaint.push(await page.evaluate(async () => {
      const w = globalThis as unknown as { elementPaints: Record<string, number> };
      for (let tries = 0; w.elementPaints['console-header'] === undefined && tries < 50; tries++) await new Promise((r) => setTimeout(r, 20));
      return w.elementPaints['console-header'] ?? NaN;
    }));
  }
  await context.close();
  return { fcpMs: median(fcp), consolePaintMs: median(consolePaint), interactiveMs: median(interactive) };
}

/** Toggles an extension through the API and times until another open console shows the change (its nav item `linkName` leaves / comes back). */
export async function toggleVisible(browser: Browser, url: string, password: string, toggle: (enabled: boolean) => Promise<void>, runs = 5, linkName = 'Hello World'): Promise<{ disableMs: number[]; enableMs: number[] }> {
  const context = await browser.newContext({ locale: 'en-US' });
  const page = await context.newPage();
  await signIn(page, url, password);
  const link = page.getByTestId('navigation').getByRole('link', { name: linkName, exact: true });
  await link.waitFor({ timeout: 60_000 });
  const disableMs: number[] = [];
  const enableMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    let t0 = performance.now();
    await toggle(false);
    await link.waitFor({ state: 'detached', timeout: 30_000 });
    disableMs.push(performance.now() - t0);
    t0 = performance.now();
    await toggle(true);
    await link.waitFor({ timeout: 60_000 });
    enableMs.push(performance.now() - t0);
  }
  await context.close();
  return { disableMs, enableMs };
}
