import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseRepositoryIndex, serializeRepositoryIndex, yankInIndex } from '@mortise/extension-sdk';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundledRepository } from '../../core/src/extensions/bundled-repository.js';
import { createLogger } from '../../core/src/ops/logger.js';
import { adminPassword, startTestCore, type TestCore } from '../../core/test/support/test-core.js';
import type { PackageCache } from '../src/api.js';
import { assertCliBuilt, hasScript, runCli, runCliInTerminal, tableRows, type CliResult } from './support/cli.js';

const api = '/apis/extensions.mortise.io/v1alpha1';
const helloWorld = fileURLToPath(new URL('../../examples/hello-world', import.meta.url));
const installerSteps = [
  'Resolving the version', 'Downloading the package', 'Unpacking the package', 'Checking compatibility, dependencies and configuration',
  'Creating its resources', 'Starting the backend', 'Switching routes',
];

interface Plan {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: { extension: { name: string; version: string }; enabled?: boolean; config?: Record<string, unknown>; purgeOnUninstall?: boolean };
  status?: { state?: string; installedVersion?: string; message?: string; retriedAt?: string };
}

/**
 * The built examples/hello-world as another version, in `root/hello-world-<version>`, its
 * manifest changed by `edit` (as a publisher would before packing it).
 */
function helloWorldAt(root: string, version: string, edit: (manifest: string) => string = (m) => m): void {
  const dir = join(root, `hello-world-${version}`);
  cpSync(helloWorld, dir, { recursive: true, filter: (src) => basename(src) !== 'node_modules' });
  const manifest = join(dir, 'extension.yaml');
  writeFileSync(manifest, edit(readFileSync(manifest, 'utf8').replace(/^version: .+$/m, `version: ${version}`)));
}

describe('mortise extension install/enable/disable/config/upgrade/retry/uninstall against a real core', () => {
  let core: TestCore;
  let dir: string;
  let config: string;
  let repoDir: string;
  const mortise = (args: string[], env?: Record<string, string>) => runCli(args, { config, env, timeoutMs: 90_000 });
  const ext = (...args: string[]) => mortise(['extension', ...args]);
  const ok = (r: CliResult) => {
    expect(r.stderr, `stderr of a command that should succeed:\n${r.stderr}\nstdout:\n${r.stdout}`).toBe('');
    expect(r.code).toBe(0);
    return r;
  };
  const failed = (r: CliResult) => {
    expect(r.code, `a command that should fail exited 0:\n${r.stdout}`).not.toBe(0);
    return r;
  };
  const hello = async () => {
    const res = await core.api('/proxy/hello-world/hello');
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) as Record<string, unknown> : undefined };
  };
  const plan = async (): Promise<Plan | undefined> => {
    const res = await core.api(`${api}/installplans/hello-world`);
    return res.status === 404 ? undefined : (await res.json()) as Plan;
  };
  const until = async <T>(what: string, check: () => Promise<T | undefined>): Promise<T> => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const value = await check();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  beforeAll(async () => {
    assertCliBuilt();
    if (!existsSync(join(helloWorld, 'dist', 'server.js'))) throw new Error('examples/hello-world is not built: run `npm run build` (npm test does)');
    dir = mkdtempSync(join(tmpdir(), 'mortise-cli-lifecycle-'));
    config = join(dir, 'config.json');
    const src = join(dir, 'src');
    helloWorldAt(src, '0.1.0');
    helloWorldAt(src, '0.2.0', (m) => m.replace(/: Hello$/gm, ': Hi'));
    helloWorldAt(src, '0.9.0', (m) => m.replace(/^(\s+mortise:).*$/m, '$1 ">=9.0.0"'));
    repoDir = join(dir, 'repo');
    await buildBundledRepository([src], repoDir, createLogger({ level: 'silent' }));
    const index = parseRepositoryIndex(readFileSync(join(repoDir, 'index.yaml'), 'utf8'));
    expect(index.entries['hello-world']!.map((e) => e.version).sort()).toEqual(['0.1.0', '0.2.0', '0.9.0']);

    core = await startTestCore({ backendReadyTimeoutMs: 10_000 });
    const login = await runCli(['login', '--server', core.url, '--username', 'admin', '--password-stdin'], { config, input: adminPassword });
    expect(login.code, login.stderr).toBe(0);
    ok(await mortise(['repo', 'add', 'local', pathToFileURL(repoDir).href]));
  });

  afterAll(async () => {
    await core?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('install refuses an unknown extension, a version nobody offers and one for another core, creating nothing', async () => {
    const unknown = failed(await ext('install', 'nope'));
    expect(unknown.stderr).toContain('error: no extension "nope" in the marketplace');
    expect(unknown.stderr).toContain('mortise extension search');

    const missing = failed(await ext('install', 'hello-world', '--version', '9.9.9'));
    expect(missing.stderr).toContain('error: extension "hello-world" has no version 9.9.9');
    expect(missing.stderr).toContain('offered: 0.9.0 (not for this core), 0.2.0, 0.1.0');

    const foreign = failed(await ext('install', 'hello-world', '--version', '0.9.0'));
    expect(foreign.stderr).toContain('error: hello-world 0.9.0 does not run on this core (it needs Mortise >=9.0.0)');
    expect(foreign.stderr).toContain('add --force');

    expect((await core.api(`${api}/installplans/nope`)).status).toBe(404);
    expect(await plan()).toBeUndefined();
  });

  it('commands on an extension that is not installed say so', async () => {
    for (const args of [['status'], ['enable'], ['disable'], ['upgrade'], ['retry'], ['uninstall'], ['config', '--config', file('any.json', '{}')]]) {
      const r = failed(await ext(args[0]!, 'hello-world', ...args.slice(1)));
      expect(r.stderr, args.join(' ')).toContain('error: extension "hello-world" is not installed');
      expect(r.stderr).toContain('mortise extension install hello-world');
    }
    const neither = failed(await ext('status', 'nope'));
    expect(neither.stderr).toContain('error: extension "nope" is not installed, and no repository offers it');
  });

  it('a failed install exits non-zero with the plan\'s message; retry tries again; uninstall removes the failed plan', async () => {
    const r = failed(await ext('install', 'hello-world', '--version', '0.9.0', '--force'));
    expect(r.stderr).toMatch(/^error: hello-world: installing 0\.9\.0 failed: .*needs a Mortise core >=9\.0\.0/m);
    expect(r.stderr).toContain('mortise extension retry hello-world');
    expect(r.stdout).toMatch(/^Downloading: installing hello-world 0\.9\.0 \(\d+s\)$/m);
    expect(r.stdout).toMatch(/^InstallFailed: installing 0\.9\.0 failed: /m);
    expect((await plan())!.status!.state).toBe('InstallFailed');

    const status = ok(await ext('status', 'hello-world'));
    expect(status.stdout).toMatch(/^State:\s+InstallFailed$/m);
    expect(status.stdout).toMatch(/^Version:\s+none installed yet$/m);
    expect(status.stdout).toMatch(/^Target version:\s+0\.9\.0$/m);

    const retry = failed(await ext('retry', 'hello-world'));
    expect(retry.stdout).toContain('Retrying: installing hello-world 0.9.0');
    expect(retry.stderr).toMatch(/^error: hello-world: installing 0\.9\.0 failed: .*needs a Mortise core >=9\.0\.0/m);
    const retried = (await plan())!;
    expect(retried.status!.retriedAt).toBe(retried.metadata.annotations!['extensions.mortise.io/retry-at']);

    const removed = ok(await ext('uninstall', 'hello-world'));
    expect(removed.stdout).toContain('hello-world uninstalled: its backend, routes, UI and resources are gone; its data directory is kept (--purge deletes it).');
    expect(await plan()).toBeUndefined();
  });

  it('install waits for the installer, printing one line per state and per step off a terminal; the gateway then serves it', async () => {
    const r = ok(await ext('install', 'hello-world', '--version', '0.1.0'));
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('Creating InstallPlan "hello-world" (hello-world 0.1.0, enabled)');
    for (const [state, message] of [['Pending', 'waiting for the installer'], ['Downloading', 'installing hello-world 0.1.0'], ['Installing', 'unpacking hello-world 0.1.0'], ['Installed', 'hello-world 0.1.0 installed']]) {
      expect(lines.filter((l) => l.startsWith(`${state}:`)), `${state} in\n${r.stdout}`).toEqual([expect.stringMatching(new RegExp(`^${state}: ${message} \\(\\d+s\\)$`))]);
    }
    const steps = lines.filter((l) => /^\[\d\/7\] /.test(l));
    expect(steps).toEqual(installerSteps.map((label, i) => `[${i + 1}/7] ${label}`));
    // States and steps come in the installer's order.
    const order = ['Pending:', 'Downloading:', '[1/7]', '[2/7]', 'Installing:', '[3/7]', '[7/7]', 'Installed:'].map((p) => lines.findIndex((l) => l.startsWith(p)));
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(lines.at(-1)).toBe('hello-world 0.1.0 installed and enabled.');
    // Not a terminal: no bar, no cursor movement.
    expect(r.stdout).not.toMatch(/\u001b\[|\u2591|\u2588/);

    expect((await plan())!.spec).toEqual({ extension: { name: 'hello-world', version: '0.1.0' }, enabled: true, purgeOnUninstall: false });
    expect(await hello()).toEqual({ status: 200, body: { message: 'Hello, admin!', user: 'admin' } });
  });

  it('install of an installed extension says so', async () => {
    const r = failed(await ext('install', 'hello-world'));
    expect(r.stderr).toContain('error: extension "hello-world" is already installed: Installed, version 0.1.0');
    expect(r.stderr).toContain('mortise extension upgrade|enable|disable|config hello-world');
  });

  it('status shows state, version, message, conditions and the last state changes', async () => {
    const r = ok(await ext('status', 'hello-world'));
    const text = r.stdout;
    expect(text).toMatch(/^Name:\s+hello-world$/m);
    expect(text).toMatch(/^State:\s+Installed$/m);
    expect(text).toMatch(/^Version:\s+0\.1\.0$/m);
    expect(text).not.toMatch(/^Target version:/m);
    expect(text).toMatch(/^Enabled:\s+yes$/m);
    expect(text).toMatch(/^Message:\s+hello-world 0\.1\.0 (installed|is serving)$/m);
    expect(text).toMatch(/^Config:\s+the extension's defaults$/m);
    expect(text).toMatch(/^\s+TYPE\s+STATUS\s+REASON\s+CHANGED\s+MESSAGE$/m);
    expect(text).toMatch(/^\s+Installed\s+True\s+Installed\s+\d+s ago$/m);
    expect(text).toMatch(/^\s+Enabled\s+True\s+Enabled\s+\d+s ago$/m);
    const history = text.slice(text.indexOf('History'));
    // Pending (where a plan starts), Downloading, Installing, Installed.
    expect(history).toMatch(/^History \(4\):$/m);
    expect(history).toMatch(/^\s+WHEN\s+STATE\s+VERSION\s+MESSAGE$/m);
    expect(history).toMatch(/^\s+\d+s ago\s+Installed\s+0\.1\.0\s+hello-world 0\.1\.0 installed$/m);
    expect(history).toMatch(/^\s+\d+s ago\s+Downloading\s+0\.1\.0\s+installing hello-world 0\.1\.0$/m);
    expect(tableRows(history.split('\n').slice(1).join('\n')).map((row) => row[1])).toEqual(['STATE', 'Pending', 'Downloading', 'Installing', 'Installed']);

    const short = ok(await ext('status', 'hello-world', '--history', '1')).stdout;
    const last = short.slice(short.indexOf('History'));
    expect(last).toMatch(/^History \(last 1 of 4\):$/m);
    expect(tableRows(last.split('\n').slice(1).join('\n')).map((row) => row[1])).toEqual(['STATE', 'Installed']);

    const json = JSON.parse(ok(await ext('status', 'hello-world', '-o', 'json')).stdout) as {
      name: string; state: string; version: string; targetVersion: string; enabled: boolean; history: Array<{ state: string }>; conditions: Array<{ type: string; status: string }>;
    };
    expect(json).toMatchObject({ name: 'hello-world', state: 'Installed', version: '0.1.0', targetVersion: '0.1.0', enabled: true, purgeOnUninstall: false, uninstalling: false });
    expect(json.history.map((h) => h.state)).toEqual(expect.arrayContaining(['Downloading', 'Installing', 'Installed']));
    expect(json.conditions).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'Installed', status: 'True' })]));

    const nothing = failed(await ext('retry', 'hello-world'));
    expect(nothing.stderr).toContain('error: hello-world has not failed (it is Installed');
    expect(nothing.stderr).toContain('nothing to retry');
  });

  it('logs prints the backend\'s log; -f follows it until interrupted; a user without the permission is refused', async () => {
    const r = ok(await ext('logs', 'hello-world'));
    expect(r.stdout).toMatch(/"event":"listening"/);
    const stamped = ok(await ext('logs', 'hello-world', '--tail', '1', '--timestamps'));
    expect(stamped.stdout).toMatch(/^\d{4}-\d\d-\d\dT\S+Z \{.*\}\n$/);
    expect(failed(await ext('logs', 'nothing-here')).stderr).toContain('not found');
    expect(failed(await ext('logs', 'hello-world', '--tail', 'x')).stderr).toContain('expected a whole number');
    // Like the other extension-management APIs: not for any logged-in user.
    await core.api('/apis/iam.mortise.io/v1alpha1/users', { method: 'POST', json: { metadata: { name: 'log-reader' }, spec: { email: 'lr@example.com', password: 'log-reader-password-1' } } });
    const { login, call } = await import('../../core/test/support/test-core.js');
    const denied = await call(core.url, await login(core.url, 'log-reader', 'log-reader-password-1'), `/kapis/extensions.mortise.io/v1alpha1/extensions/hello-world/logs`);
    expect(denied.status).toBe(403);
    expect(await denied.json()).toMatchObject({ kind: 'Status', reason: 'Forbidden', message: expect.stringContaining('extensions/logs') });

    // Follow from now on; a config change restarts the backend, whose new lines arrive.
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('MORTISE_')) env[k] = v;
    env.MORTISE_CONFIG = config;
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [fileURLToPath(new URL('../dist/mortise.js', import.meta.url)), 'extension', 'logs', 'hello-world', '-f', '--tail', '0'], { env });
    let followed = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { followed += d; });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    await new Promise((r) => setTimeout(r, 500));
    expect(followed).toBe('');
    await core.api(`${api}/installplans/hello-world`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { spec: { config: { greeting: 'Hey' } } } });
    await until('the restarted backend\'s line', async () => (followed.includes('"event":"listening"') ? true : undefined));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    await core.api(`${api}/installplans/hello-world`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { spec: { config: null } } });
    await until('serving again', async () => ((await hello()).status === 200 ? true : undefined));
  });

  it('disable switches the gateway to 503 (here followed by polling); enable brings it back (followed by a watch)', async () => {
    const off = ok(await mortise(['extension', 'disable', 'hello-world'], { MORTISE_NO_WATCH: '1' }));
    expect(off.stdout).toMatch(/^Disabling hello-world 0\.1\.0$/m);
    expect(off.stdout).toMatch(/^Disabled: hello-world 0\.1\.0 is disabled \(\d+s\)$/m);
    expect(off.stdout).toContain('hello-world 0.1.0 disabled: its routes answer 503');
    const down = await hello();
    expect(down.status).toBe(503);
    expect(String(down.body!.message)).toContain('disabled');
    expect((await plan())!.spec.enabled).toBe(false);

    expect(ok(await ext('disable', 'hello-world')).stdout).toContain('hello-world 0.1.0 is already disabled.');

    const on = ok(await ext('enable', 'hello-world'));
    expect(on.stdout).toMatch(/^Installed: hello-world 0\.1\.0 is serving \(\d+s\)$/m);
    expect(on.stdout).toContain('hello-world 0.1.0 enabled: its backend runs and its routes and UI are back.');
    expect(await hello()).toEqual({ status: 200, body: { message: 'Hello, admin!', user: 'admin' } });
  });

  it('config sets the configuration from a JSON or YAML file; one the extension refuses leaves the previous one running', async () => {
    const yo = ok(await ext('config', 'hello-world', '--config', file('yo.json', '{"greeting": "Yo"}')));
    expect(yo.stdout).toContain('configuration of hello-world applied: its backend runs with it.');
    expect(await hello()).toEqual({ status: 200, body: { message: 'Yo, admin!', user: 'admin' } });
    expect(parseYaml(ok(await ext('config', 'hello-world')).stdout)).toEqual({ greeting: 'Yo' });
    expect(JSON.parse(ok(await ext('config', 'hello-world', '-o', 'json')).stdout)).toEqual({ greeting: 'Yo' });

    const bad = failed(await ext('config', 'hello-world', '--config', file('bad.yaml', 'greeting: 42\n')));
    expect(bad.stderr).toMatch(/^error: the core refused the configuration of hello-world: spec\.config is invalid: .*greeting/m);
    expect(bad.stderr).toContain('hello-world keeps running with its previous configuration');
    expect(await hello()).toEqual({ status: 200, body: { message: 'Yo, admin!', user: 'admin' } });

    const notObject = failed(await ext('config', 'hello-world', '--config', file('list.json', '["Yo"]')));
    expect(notObject.stderr).toContain('must hold an object');

    // The file is the whole configuration: what it lacks goes, and the manifest's default is back.
    const reset = ok(await ext('config', 'hello-world', '--config', file('empty.yaml', '{}\n')));
    expect(reset.stdout).toContain('configuration of hello-world applied');
    expect((await plan())!.spec.config).toEqual({});
    expect(await hello()).toEqual({ status: 200, body: { message: 'Hello, admin!', user: 'admin' } });
    expect(ok(await ext('config', 'hello-world', '--config', join(dir, 'empty.yaml'))).stdout).toContain('the configuration of hello-world is unchanged.');
  });

  it('upgrade refuses a version the extension does not offer, naming those it does', async () => {
    const r = failed(await ext('upgrade', 'hello-world', '--version', '3.0.0'));
    expect(r.stderr).toContain('error: extension "hello-world" has no version 3.0.0');
    expect(r.stderr).toContain('offered: 0.9.0 (not for this core), 0.2.0, 0.1.0');
    expect((await plan())!.spec.extension.version).toBe('0.1.0');
  });

  it('upgrade moves to the recommended version by default, and says when it is there already', async () => {
    const r = ok(await ext('upgrade', 'hello-world'));
    expect(r.stdout).toMatch(/^Upgrading hello-world from 0\.1\.0 to 0\.2\.0$/m);
    expect(r.stdout).toMatch(/^Upgrading: upgrading to hello-world 0\.2\.0 \(\d+s\)$/m);
    expect(r.stdout).toMatch(/^\[6\/7\] Starting the backend$/m);
    expect(r.stdout).toContain('hello-world upgraded from 0.1.0 to 0.2.0.');
    expect(await hello()).toEqual({ status: 200, body: { message: 'Hi, admin!', user: 'admin' } });
    const already = ok(await ext('upgrade', 'hello-world')).stdout;
    expect(already).toContain('hello-world is already at 0.2.0, the recommended version.');
    expect(already).toContain('Just published a newer version? Sync its repository first: mortise repo sync local');
  });

  it('a failed upgrade exits non-zero with the plan\'s message while the old version keeps serving', async () => {
    const r = failed(await ext('upgrade', 'hello-world', '--version', '0.9.0', '--force'));
    expect(r.stderr).toMatch(/^error: hello-world: upgrade to 0\.9\.0 failed, 0\.2\.0 still serving: .*needs a Mortise core >=9\.0\.0/m);
    expect(r.stdout).toMatch(/^UpgradeFailed: upgrade to 0\.9\.0 failed/m);
    expect(await hello()).toEqual({ status: 200, body: { message: 'Hi, admin!', user: 'admin' } });

    const again = failed(await ext('upgrade', 'hello-world', '--version', '0.9.0', '--force'));
    expect(again.stderr).toContain('mortise extension retry hello-world');

    // With -o json the record goes to stdout and the progress to stderr.
    const back = await ext('upgrade', 'hello-world', '--version', '0.2.0', '-o', 'json');
    expect(back.code, back.stderr).toBe(0);
    expect(back.stderr).toMatch(/^Going back to hello-world 0\.2\.0$/m);
    expect(back.stderr).toMatch(/^Installed: hello-world 0\.2\.0 is serving \(\d+s\)$/m);
    expect(JSON.parse(back.stdout)).toMatchObject({ name: 'hello-world', state: 'Installed', version: '0.2.0', targetVersion: '0.2.0', enabled: true });
    expect((await plan())!.status!.state).toBe('Installed');
  });

  it('cache shows the archives and unpacked versions the core keeps, and why', async () => {
    // Running 0.2.0, upgraded from 0.1.0; the failed 0.9.0 was unpacked, then removed with its failure.
    const cache = JSON.parse(ok(await ext('cache', '-o', 'json')).stdout) as PackageCache;
    expect(cache.unpacked.map((u) => [u.name, u.version, u.kept])).toEqual([['hello-world', '0.1.0', 'previous'], ['hello-world', '0.2.0', 'running']]);
    expect(cache.archives.find((a) => a.file === 'hello-world-0.2.0.tgz')).toMatchObject({ neededBy: 'hello-world' });
    expect(cache.archives.find((a) => a.file === 'hello-world-0.1.0.tgz')).toMatchObject({ neededBy: 'hello-world' });
    expect(cache.leftovers).toEqual([]);
    expect(cache.limitBytes).toBe(1024 * 1024 * 1024);
    const table = ok(await ext('cache')).stdout;
    expect(table).toMatch(/^Archives: [\d.]+ KiB of 1\.0 GiB/m);
    expect(table).toMatch(/^ {2}hello-world +0\.2\.0 +[\d.]+ [KM]iB +running$/m);
    expect(table).toMatch(/^ {2}hello-world +0\.1\.0 +[\d.]+ [KM]iB +previous$/m);
  });

  it('upgrade refuses a yanked version unless --force', async () => {
    const indexPath = join(repoDir, 'index.yaml');
    writeFileSync(indexPath, serializeRepositoryIndex(yankInIndex(parseRepositoryIndex(readFileSync(indexPath, 'utf8')), 'hello-world', '0.1.0', 'greets too loudly')));
    ok(await mortise(['repo', 'sync', 'local']));
    const r = failed(await ext('upgrade', 'hello-world', '--version', '0.1.0'));
    expect(r.stderr).toContain('error: hello-world 0.1.0 is yanked (greets too loudly): its publisher withdrew it');
    expect(r.stderr).toContain('offered: 0.9.0 (not for this core), 0.2.0, 0.1.0 (yanked)');
    expect(r.stderr).toContain('the recommended version is 0.2.0');
    expect(r.stderr).toContain('add --force to use it anyway');
  });

  it('shows a progress bar on a terminal', async () => {
    // util-linux `script` gives the CLI a real terminal; Debian always has it (bsdutils).
    if (!hasScript()) throw new Error('this test needs util-linux `script`: apt-get install -y bsdutils');
    const r = await runCliInTerminal(['extension', 'upgrade', 'hello-world', '--version', '0.1.0', '--force'], { config, timeoutMs: 90_000 });
    expect(r.code, r.stdout).toBe(0);
    // cli-progress draws with block characters and cursor control, then clears the bar.
    expect(r.stdout).toMatch(/[\u2588\u2591]+ [0-7]\/7 /);
    expect(r.stdout).toContain('\u001b[');
    expect(r.stdout).toContain('hello-world downgraded from 0.2.0 to 0.1.0.');
    expect(r.stdout).not.toMatch(/^\[\d\/7\]/m);
    expect(await hello()).toEqual({ status: 200, body: { message: 'Hello, admin!', user: 'admin' } });

    // Without steps (disable, enable) the bar shows the state.
    const off = await runCliInTerminal(['extension', 'disable', 'hello-world'], { config, timeoutMs: 90_000 });
    expect(off.code, off.stdout).toBe(0);
    expect(off.stdout).toMatch(/[\u2588\u2591]+ (Disabling|Disabled)/);
    expect(off.stdout).toContain('hello-world 0.1.0 disabled');
    ok(await ext('enable', 'hello-world'));
    ok(await ext('upgrade', 'hello-world'));
  });

  it('a wait that runs out says so, and the operation goes on in the core', async () => {
    const r = failed(await ext('disable', 'hello-world', '--timeout', '1ms'));
    expect(r.stderr).toContain('error: gave up waiting after 1ms: disabling hello-world goes on in the core');
    expect(r.stderr).toContain('mortise extension status hello-world');
    await until('the plan to be Disabled', async () => ((await plan())?.status?.state === 'Disabled' ? true : undefined));
    expect((await hello()).status).toBe(503);
    ok(await ext('enable', 'hello-world'));
    expect((await hello()).status).toBe(200);
  });

  it('uninstall --purge deletes the plan and waits until it is gone: the gateway answers 404 and the data is deleted', async () => {
    const data = join(core.dataDir!, 'extensions', 'data', 'hello-world');
    expect(existsSync(data)).toBe(true);
    const r = ok(await ext('uninstall', 'hello-world', '--purge'));
    expect(r.stdout).toMatch(/^Uninstalling hello-world and deleting its data$/m);
    expect(r.stdout).toMatch(/^Uninstalling: uninstalling hello-world \(\d+s\)$/m);
    expect(r.stdout).toContain('hello-world uninstalled: its backend, routes, UI and resources are gone; its data directory was deleted.');
    expect(await plan()).toBeUndefined();
    expect((await hello()).status).toBe(404);
    expect(existsSync(data)).toBe(false);
    const again = failed(await ext('uninstall', 'hello-world'));
    expect(again.stderr).toContain('error: extension "hello-world" is not installed');
  });

  it('install --disabled --no-wait returns at once; the installer installs it disabled', async () => {
    const r = ok(await ext('install', 'hello-world', '--disabled', '--no-wait', '--config', file('hey.yaml', 'greeting: Hey\n')));
    expect(r.stdout).toContain('InstallPlan "hello-world" created: the core installs hello-world 0.2.0 in the background');
    const created = (await plan())!;
    expect(created.spec).toEqual({ extension: { name: 'hello-world', version: '0.2.0' }, enabled: false, config: { greeting: 'Hey' }, purgeOnUninstall: false });
    await until('the plan to be Disabled', async () => ((await plan())?.status?.state === 'Disabled' ? true : undefined));
    expect((await hello()).status).not.toBe(200);
    ok(await ext('enable', 'hello-world'));
    expect(await hello()).toEqual({ status: 200, body: { message: 'Hey, admin!', user: 'admin' } });

    // --force marks the plan so that failing uninstall steps cannot hold it; --no-wait leaves it to the core.
    const r2 = ok(await ext('uninstall', 'hello-world', '--force', '--no-wait'));
    expect(r2.stdout).toContain('uninstall of hello-world requested: the core removes it in the background');
    const leaving = await plan();
    if (leaving) expect(leaving.metadata.annotations?.['extensions.mortise.io/force-uninstall']).toBe('true');
    await until('the plan to be gone', async () => ((await plan()) ? undefined : true));
    // Without --purge the data directory stays for a later install.
    expect(existsSync(join(core.dataDir!, 'extensions', 'data', 'hello-world'))).toBe(true);
  });
});
