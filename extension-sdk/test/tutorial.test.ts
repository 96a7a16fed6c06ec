import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../../core/test/support/browser.js';
import { freePort, startChildCore, type ChildCore } from '../../core/test/support/child-core.js';
import { startStaticServer, type StaticServer } from './helpers/static-server.js';

// docs/isv-tutorial.md, run as written: every ```sh block, in order, in one bash session, in an
// empty directory outside the repository, against a real core started as `npm start` would.
// Where the tutorial says to look at the console, a headless Chromium looks (the script waits).
// It also measures the tutorial's two figures (printed, not asserted: the machine decides them).

const repo = fileURLToPath(new URL('../..', import.meta.url));
const tutorial = readFileSync(join(repo, 'docs', 'isv-tutorial.md'), 'utf8');

/** The ```sh blocks of a markdown text, in order. */
export function shellBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
}

describe('docs/isv-tutorial.md', () => {
  const root = mkdtempSync(join(tmpdir(), 'mortise-tutorial-'));
  let core: ChildCore | undefined;
  let browser: Browser | undefined;
  let prebuilt: StaticServer | undefined;
  afterAll(async () => {
    await browser?.close();
    await prebuilt?.close();
    await core?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('runs as written: create, test, publish, install, dev, release, upgrade', async () => {
    const blocks = shellBlocks(tutorial);
    expect(blocks.length).toBeGreaterThanOrEqual(8);
    const adminPassword = 'tutorial-admin-password';
    core = await startChildCore({
      MORTISE_DATA_DIR: join(root, 'core'), MORTISE_ADMIN_PASSWORD: adminPassword, MORTISE_BUNDLED_REPOSITORY: 'off', MORTISE_LOG_LEVEL: 'warn',
    }, { readyTimeoutMs: 60_000 });
    const work = join(root, 'work');
    const home = join(root, 'home');
    mkdirSync(work, { recursive: true });
    mkdirSync(home, { recursive: true });
    // Where the tutorial says to look at the console: after the install, and after the page's change under dev.
    const looks = new Map([
      [blocks.findIndex((b) => b.includes('mortise extension install acme-notes')), 'installed'],
      [blocks.findIndex((b) => b.includes('frontend/index.tsx')), 'dev'],
    ]);
    expect([...looks.keys()].every((i) => i >= 0)).toBe(true);
    // Each block between markers, so the script's own output says when each began and ended.
    const script = ['set -euo pipefail', ...blocks.flatMap((b, i) => [
      `echo "@@ ${i} start $(date +%s%3N)"`, b, `echo "@@ ${i} end $(date +%s%3N)"`,
      ...(looks.has(i) ? [`echo "@@ look ${looks.get(i)}"`, 'read -r _'] : []),
    ])].join('\n');
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('MORTISE_') && !k.startsWith('npm_')) env[k] = v;
    Object.assign(env, {
      HOME: home, npm_config_cache: process.env.npm_config_cache ?? join(homedir(), '.npm'),
      MORTISE_HOME: repo, MORTISE_URL: core.url, MORTISE_ADMIN_PASSWORD: adminPassword, MARKETPLACE_PORT: String(await freePort()),
    });
    // The core depends on better-sqlite3, whose install downloads a prebuilt binary from
    // github.com — which this test machine may not reach (then node-gyp compiles it for minutes,
    // which no ISV with a network waits for). A local mirror serves the binary the checkout has
    // for the same version, through prebuild-install's mirror setting; without it, it compiles.
    prebuilt = await betterSqlite3Mirror(join(root, 'prebuilt'));
    if (prebuilt) env.npm_config_better_sqlite3_binary_host = prebuilt.url;
    browser = await launchChromium();
    const page = await (await browser.newContext({ locale: 'en-US' })).newPage();
    const child = spawn('bash', ['-c', script], { cwd: work, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let looking = Promise.resolve();
    let looked = 0;
    child.stdin.on('error', () => undefined);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const asked = [...out.matchAll(/^@@ look (\w+)$/gm)].map((m) => m[1]!);
      for (const look of asked.slice(looked)) {
        looked += 1;
        looking = looking.then(() => lookAtConsole(page, core!.url, adminPassword, look)).then(
          () => void child.stdin.write('\n'),
          (e: Error) => {
            out += `\nthe console check "${look}" failed: ${e.message}\n`;
            process.kill(-child.pid!, 'SIGKILL');
          },
        );
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d; });
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    await looking;
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // the group is gone already
    }
    expect(code, out).toBe(0);
    expect(out).toContain('@@ look dev');

    const at = (i: number, edge: 'start' | 'end') => Number(new RegExp(`@@ ${i} ${edge} (\\d+)$`, 'm').exec(out)![1]);
    const firstAnswer = blocks.findIndex((b) => b.includes('/proxy/acme-notes/hello'));
    const devChange = blocks.findIndex((b) => b.includes("sed -i 's/${greeting}"));
    expect(out).toContain('{"message":"Hello, admin!","user":"admin"}');
    // After dev stops, the installed 0.1.0 answers again; after the upgrade, 0.2.0 has the change.
    expect(out.match(/\{"message":"Hello, admin!","user":"admin"\}/g)).toHaveLength(2);
    expect(out).toMatch(/\{"message":"Hello from dev, admin!","user":"admin"\}\s*@@ \d+ end/);
    expect(out).toContain('acme-notes upgraded from 0.1.0 to 0.2.0.');
    const toGateway = (at(firstAnswer, 'end') - at(0, 'start')) / 1000;
    const devSeconds = (at(devChange, 'end') - at(devChange, 'start')) / 1000;
    const pageBlock = [...looks.entries()].find(([, l]) => l === 'dev')![0];
    const pageSeconds = (at(pageBlock, 'end') - at(pageBlock, 'start')) / 1000;
    const installSeconds = (at(1, 'end') - at(1, 'start')) / 1000;
    const devLog = readFileSync(join(work, 'dev.log'), 'utf8');
    const steps = blocks.map((_, i) => `${i}: ${((at(i, 'end') - at(i, 'start')) / 1000).toFixed(1)} s`).join(', ');
    console.log(`tutorial: empty directory → answering through the gateway in ${toGateway.toFixed(1)} s (pack, create and npm install [${installSeconds.toFixed(1)} s, better-sqlite3 ${prebuilt ? 'from the local mirror' : 'compiled'}] and npm test included); `
      + `code change → visible with dev in ${devSeconds.toFixed(2)} s (dev: "${/restarted acme-notes in \d+ ms/.exec(devLog)?.[0]}"); `
      + `page change → rebuilt by dev in ${pageSeconds.toFixed(2)} s ("${/rebuilt the frontend in \d+ ms/.exec(devLog)?.[0]}"); blocks: ${steps}; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  }, 1_200_000);
});

/** Signs in (once) and checks the extension's navigation item and page, as the tutorial describes them at `look`. */
async function lookAtConsole(page: Page, url: string, password: string, look: string): Promise<void> {
  if (look === 'installed') {
    await page.goto(url);
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('user-menu').waitFor();
    await page.getByTestId('navigation').getByRole('link', { name: 'Acme Notes' }).click({ timeout: 60_000 });
    await page.getByText('The backend says:').waitFor();
    await page.getByTestId('acme-notes-greeting').getByText('Hello, admin!').waitFor();
    // A note added on the page goes through the gateway (POST, with the session cookie and the CSRF header).
    await page.getByLabel('A new note').fill('buy milk');
    await page.getByRole('button', { name: 'Add' }).click();
    await page.getByRole('listitem').getByText('buy milk').waitFor();
  } else {
    await page.reload();
    await page.getByText('Your dev backend says:').waitFor({ timeout: 60_000 });
    await page.getByTestId('acme-notes-greeting').getByText('Hello from dev, admin!').waitFor();
    // The dev backend keeps its data in the project's .mortise-dev/data, not the installed one's.
    await page.getByText('No notes yet.').waitFor();
  }
}

/** A prebuilt-binary mirror for better-sqlite3 holding the checkout's own build, or undefined when it has none. */
async function betterSqlite3Mirror(dir: string): Promise<StaticServer | undefined> {
  const require = createRequire(import.meta.url);
  let pkgDir: string;
  try {
    pkgDir = dirname(require.resolve('better-sqlite3/package.json', { paths: [join(fileURLToPath(new URL('../..', import.meta.url)), 'core')] }));
  } catch {
    return undefined;
  }
  if (!existsSync(join(pkgDir, 'build', 'Release', 'better_sqlite3.node'))) return undefined;
  const { version } = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version: string };
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  mkdirSync(join(dir, `v${version}`), { recursive: true });
  execFileSync('tar', ['czf', join(dir, `v${version}`, name), '-C', pkgDir, 'build/Release/better_sqlite3.node']);
  return startStaticServer(dir);
}
