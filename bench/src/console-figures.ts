import type { Browser, Page } from 'playwright-core';
import { loginFirstPaint, signedInPaint, toggleVisible, type FirstPaint, type SignedInPaint } from './console-bench.js';
import { benchConsoleRepository, benchNavTitle, type BenchRepository } from './console-extensions.js';
import { percentile } from './load.js';

// The console's section of `npm run bench` (and of `node bench/dist/console-run.js`): the login
// page's bytes, signed-in reloads with 0, 1 and 20 extensions, toggles seen by another console.

const ext = '/apis/extensions.mortise.io/v1alpha1';

export interface ConsoleBare {
  login: FirstPaint;
  bare0: SignedInPaint;
}

export interface ConsoleExtended {
  with1: SignedInPaint;
  toggles: { disableMs: number[]; enableMs: number[] };
  repo20: BenchRepository;
  login20: FirstPaint;
  with20: SignedInPaint;
  toggles20: { disableMs: number[]; enableMs: number[] };
}

/** The login page and a signed-in console before any extension is installed. */
export async function consoleWithoutExtensions(browser: Browser, url: string, password: string): Promise<ConsoleBare> {
  const login = await loginFirstPaint(browser, url);
  const bare0 = await signedInPaint(browser, url, password, (p) => p.getByTestId('navigation').getByRole('link', { name: 'Overview' }).waitFor());
  return { login, bare0 };
}

const setEnabled = (url: string, auth: Record<string, string>, name: string) => async (enabled: boolean) => {
  const res = await fetch(`${url}${ext}/installplans/${name}`, { method: 'PATCH', headers: { ...auth, 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ spec: { enabled } }) });
  if (!res.ok) throw new Error(`PATCH installplan ${name}: ${res.status} ${await res.text()}`);
};

/** Until `done`, polling; fails after five minutes naming `what`. */
async function until(what: string, done: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 300_000;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Adds a Repository, installs the named extensions from it and waits until all are Installed. */
export async function installFromRepository(url: string, auth: Record<string, string>, repository: string, repoUrl: string, names: string[]): Promise<void> {
  const headers = { ...auth, 'content-type': 'application/json' };
  const created = await fetch(`${url}${ext}/repositories`, { method: 'POST', headers, body: JSON.stringify({ metadata: { name: repository }, spec: { url: repoUrl, interval: '1h' } }) });
  if (created.status !== 201) throw new Error(`repository ${repository}: ${created.status} ${await created.text()}`);
  await until('the repository to sync', async () => (await Promise.all(names.map(async (n) => (await fetch(`${url}${ext}/extensions/${n}`, { headers })).ok))).every(Boolean));
  for (const name of names) {
    const res = await fetch(`${url}${ext}/installplans`, { method: 'POST', headers, body: JSON.stringify({ apiVersion: 'extensions.mortise.io/v1alpha1', kind: 'InstallPlan', metadata: { name }, spec: { extension: { name, version: '1.0.0' }, enabled: true } }) });
    if (res.status !== 201) throw new Error(`InstallPlan ${name}: ${res.status} ${await res.text()}`);
  }
  await until(`${names.length} installs`, async () => {
    const list = (await (await fetch(`${url}${ext}/installplans`, { headers })).json()) as { items: Array<{ metadata: { name: string }; status?: { state?: string } }> };
    return names.every((n) => list.items.find((p) => p.metadata.name === n)?.status?.state === 'Installed');
  });
}

/**
 * With hello-world installed (and enabled): its reload and toggle; then 20 extensions with
 * built frontends installed from a file:// repository, hello-world disabled so that exactly
 * those 20 remotes load: the login page's bytes, a reload until all 20 nav items are there, and
 * a frontend-only extension toggled while another console is open.
 */
export async function consoleWithExtensions(browser: Browser, url: string, auth: Record<string, string>, password: string, log: (s: string) => void = (s) => process.stderr.write(`${s}\n`)): Promise<ConsoleExtended> {
  const with1 = await signedInPaint(browser, url, password, (p) => p.getByTestId('navigation').getByRole('link', { name: 'Hello World' }).waitFor({ timeout: 60_000 }));
  const toggles = await toggleVisible(browser, url, password, setEnabled(url, auth, 'hello-world'));

  const repo20 = await benchConsoleRepository(20, log);
  log(`installing ${repo20.names.length} extensions from ${repo20.url}`);
  await installFromRepository(url, auth, 'bench-console', repo20.url, repo20.names);
  await setEnabled(url, auth, 'hello-world')(false);
  const login20 = await loginFirstPaint(browser, url);
  const allNavItems = async (p: Page) => {
    const navigation = p.getByTestId('navigation');
    await navigation.getByRole('link', { name: benchNavTitle(20), exact: true }).waitFor({ timeout: 60_000 });
    while ((await navigation.locator('a[data-extension]').count()) !== repo20.names.length) await p.waitForTimeout(10);
  };
  const with20 = await signedInPaint(browser, url, password, allNavItems);
  const toggles20 = await toggleVisible(browser, url, password, setEnabled(url, auth, repo20.names[0]!), 5, benchNavTitle(1));
  return { with1, toggles, repo20, login20, with20, toggles20 };
}

/** The console's tables, in Markdown. */
export function consoleTable(a: ConsoleBare, b: ConsoleExtended): string[] {
  const kib = (n: number) => `${(n / 1024).toFixed(0)} KiB`;
  const ms = (n: number) => `${n.toFixed(0)} ms`;
  const p50max = (xs: number[]) => `${ms(percentile([...xs].sort((x, y) => x - y), 50))} / ${ms(Math.max(...xs))}`;
  const row = (what: string, r: SignedInPaint) => `| ${what} | ${ms(r.fcpMs)} | ${ms(r.consolePaintMs)} | ${ms(r.interactiveMs)} |`;
  return [
    '## Console (headless Chromium on the same machine)',
    '',
    '| measurement | value |',
    '|---|---|',
    `| host JS before the first paint (login page, gzip on the wire) | ${kib(a.login.jsBytes)} (+ ${kib(a.login.cssBytes)} CSS) |`,
    `| the same with 20 extensions installed (none is loaded before the sign-in) | ${kib(b.login20.jsBytes)} (+ ${kib(b.login20.cssBytes)} CSS) |`,
    `| first contentful paint, login page, cold cache | ${ms(a.login.fcpMs)} |`,
    '',
    'Signed-in reloads, median of 5. First contentful paint: the placeholder shown while the console\'s chunk loads. Console painted: its header on screen (Element Timing). Navigation ready: every enabled extension\'s nav item on screen (each extension\'s remote entry and declaration loaded).',
    '',
    '| extensions installed | first contentful paint | console painted | navigation ready |',
    '|---|---|---|---|',
    row('0', a.bare0),
    row('1 (hello-world)', b.with1),
    row(`20, each its own remote (${b.repo20.cached ? 'packages from the build cache' : `built in this run in ${(b.repo20.buildMs / 1000).toFixed(0)} s`})`, b.with20),
    '',
    '| toggled via the API → seen in another open console, p50 / max of 5 | disable (nav item gone) | enable (nav item back) |',
    '|---|---|---|',
    `| hello-world (enabling restarts its backend) | ${p50max(b.toggles.disableMs)} | ${p50max(b.toggles.enableMs)} |`,
    `| a frontend-only extension, 20 installed | ${p50max(b.toggles20.disableMs)} | ${p50max(b.toggles20.enableMs)} |`,
  ];
}
