import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminPassword, startTestCore, type TestCore } from '../../core/test/support/test-core.js';
import { assertCliBuilt, hasScript, runCli, runCliInTerminal, tableRows, type CliResult } from './support/cli.js';
import { TestRepository } from './support/repository.js';

const api = '/apis/extensions.mortise.io/v1alpha1';

describe('mortise repo and mortise extension against a real core', () => {
  let core: TestCore;
  let dir: string;
  let config: string;
  let repo: TestRepository;
  const mortise = (...args: string[]) => runCli(args, { config });
  const ok = (r: CliResult) => {
    expect(r.stderr, `stderr of a command that should succeed:\n${r.stderr}`).toBe('');
    expect(r.code).toBe(0);
    return r;
  };

  beforeAll(async () => {
    assertCliBuilt();
    core = await startTestCore();
    dir = mkdtempSync(join(tmpdir(), 'mortise-cli-market-'));
    config = join(dir, 'config.json');
    repo = new TestRepository(join(dir, 'repo'));
    await repo.publish({
      name: 'hello', version: '1.0.0', displayName: { en: 'Hello World', zh: '你好世界' }, description: 'Says hello to the signed-in user',
      category: 'demo', keywords: ['greeting', 'example'], provider: { name: 'Acme', email: 'ext@acme.example', url: 'https://acme.example' },
      homepage: 'https://acme.example/hello',
    });
    await repo.publish({
      name: 'log-viewer', version: '0.3.0', displayName: 'Log Viewer', description: 'Browse and search container logs',
      category: 'observability', keywords: ['logging', 'Kibana-like'], provider: { name: 'Observa' }, license: 'Apache-2.0',
    });
    const login = await runCli(['login', '--server', core.url, '--username', 'admin', '--password-stdin'], { config, input: adminPassword });
    expect(login.code).toBe(0);
  });

  afterAll(async () => {
    await core?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('repo add creates the Repository, waits for its first sync and shows plain progress lines off a terminal', async () => {
    const r = ok(await mortise('repo', 'add', 'local', repo.url, '--interval', '1h'));
    expect(r.stdout).toMatch(/^\[1\/2\] Creating repository "local"/m);
    expect(r.stdout).toMatch(/^\[2\/2\] Syncing file:\/\//m);
    expect(r.stdout).toContain('Repository "local" added and synced: 2 extensions, 2 versions.');
    // No terminal: no cursor movement or bar characters.
    expect(r.stdout).not.toMatch(/\u001b\[|\u2591|\u2588/);

    const ext = await core.api(`${api}/extensions/hello`);
    expect(ext.status).toBe(200);
    const body = (await ext.json()) as { spec: { repository: string }; status: { latestVersion: string } };
    expect(body.spec.repository).toBe('local');
    expect(body.status.latestVersion).toBe('1.0.0');
    const stored = (await (await core.api(`${api}/repositories/local`)).json()) as { spec: { url: string; interval: string } };
    expect(stored.spec).toMatchObject({ url: repo.url, interval: '1h' });
  });

  it('repo list shows a table', async () => {
    const r = ok(await mortise('repo', 'list'));
    const rows = tableRows(r.stdout);
    expect(rows[0]).toEqual(['NAME', 'URL', 'EXTENSIONS', 'SYNCED', 'LAST SYNC']);
    const local = rows.find((row) => row[0] === 'local')!;
    expect(local.slice(0, 4)).toEqual(['local', repo.url, '2', 'True']);
    expect(local[4]).toMatch(/^\d+s ago$/);
  });

  it('repo list -o json and -o yaml print the same records', async () => {
    const json = JSON.parse(ok(await mortise('repo', 'list', '-o', 'json')).stdout) as Array<Record<string, unknown>>;
    const local = json.find((x) => x.name === 'local')!;
    expect(local).toMatchObject({ name: 'local', url: repo.url, interval: '1h', extensions: 2, synced: 'True', reason: 'Synced' });
    expect(Date.parse(local.lastSyncTime as string)).toBeGreaterThan(0);
    expect(local.lastSuccessfulSyncTime).toBe(local.lastSyncTime);
    const yaml = parseYaml(ok(await mortise('repo', 'list', '-o', 'yaml')).stdout) as unknown;
    expect(yaml).toEqual(json);
  });

  it('repo sync picks up a version added to the index and names it', async () => {
    await repo.publish({
      name: 'hello', version: '1.1.0', displayName: { en: 'Hello World', zh: '你好世界' }, description: 'Says hello to the signed-in user, now politely',
      category: 'demo', keywords: ['greeting', 'example'], provider: { name: 'Acme', email: 'ext@acme.example', url: 'https://acme.example' },
    });
    const before = (await (await core.api(`${api}/repositories/local`)).json()) as { status: { lastSyncTime: string } };
    const r = ok(await mortise('repo', 'sync', 'local'));
    expect(r.stdout).toMatch(/^\[1\/2\] Requesting a sync of "local"/m);
    expect(r.stdout).toContain('Repository "local" synced: 2 extensions, 3 versions.');
    expect(r.stdout).toContain('  + hello 1.1.0');
    const after = (await (await core.api(`${api}/repositories/local`)).json()) as { metadata: { annotations: Record<string, string> }; status: { lastSyncTime: string } };
    expect(Date.parse(after.status.lastSyncTime)).toBeGreaterThan(Date.parse(before.status.lastSyncTime));
    expect(Date.parse(after.status.lastSyncTime)).toBeGreaterThanOrEqual(Date.parse(after.metadata.annotations['extensions.mortise.io/sync-requested-at']!));

    const info = ok(await mortise('extension', 'info', 'hello'));
    expect(info.stdout).toMatch(/^Latest:\s+1\.1\.0$/m);
    expect(info.stdout).toMatch(/^\s+1\.1\.0\s+\d{4}-\d\d-\d\d\s+>=0\.1\.0\s+recommended, latest$/m);
  });

  it('repo sync with nothing new says so, with -o json for scripts', async () => {
    const r = await mortise('repo', 'sync', 'local', '-o', 'json');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { name: string; synced: string; added: unknown[]; removed: unknown[] };
    expect(out).toMatchObject({ name: 'local', synced: 'True', added: [], removed: [] });
    // Progress went to stderr, keeping stdout parseable.
    expect(r.stderr).toContain('[2/2] Syncing');
  });

  it('shows a progress bar on a terminal', async () => {
    // util-linux `script` gives the CLI a real terminal; Debian always has it (bsdutils).
    if (!hasScript()) throw new Error('this test needs util-linux `script`: apt-get install -y bsdutils');
    const r = await runCliInTerminal(['repo', 'sync', 'local'], { config });
    expect(r.code).toBe(0);
    // cli-progress draws with block characters and cursor control, then clears the bar.
    expect(r.stdout).toMatch(/[\u2588\u2591]+ [01]\/2 (Requesting a sync of "local"|Syncing file:)/);
    expect(r.stdout).toContain('\u001b[');
    expect(r.stdout).toContain('Repository "local" synced: 2 extensions, 3 versions.');
    expect(r.stdout).not.toContain('[1/2]');
  });

  it('repo sync of a repository whose source broke exits non-zero with the reason', async () => {
    const src = new TestRepository(join(dir, 'flaky'));
    await src.publish({ name: 'flaky-ext', version: '0.1.0', description: 'Comes and goes' });
    ok(await mortise('repo', 'add', 'flaky', src.url));
    renameSync(src.dir, `${src.dir}-gone`);
    try {
      const r = await mortise('repo', 'sync', 'flaky');
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('error: sync of repository "flaky" failed: cannot read file:');
      expect(r.stderr).toContain('index.yaml: it is missing or unreadable');
      expect(r.stderr).toContain('keeping the data of the last successful sync');
      // The last good data stays.
      expect((await core.api(`${api}/extensions/flaky-ext`)).status).toBe(200);
      const list = await mortise('repo', 'list');
      expect(list.code).toBe(0);
      expect(tableRows(list.stdout).find((row) => row[0] === 'flaky')?.[3]).toBe('False');
      expect(list.stderr).toContain('warning: repository "flaky": cannot read file:');
    } finally {
      renameSync(`${src.dir}-gone`, src.dir);
    }
  });

  it('repo add of a URL with no repository behind it fails with the reason and says what to do', async () => {
    const missing = pathToFileURL(join(dir, 'nothing-here')).href;
    const r = await mortise('repo', 'add', 'broken', missing);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('error: repository "broken" was created, but its first sync failed: cannot read file:');
    expect(r.stderr).toContain('mortise repo remove broken');
    ok(await mortise('repo', 'remove', 'broken'));
  });

  it('prints the server\'s Status message, with its causes one a line', async () => {
    // The CLI checks the interval itself...
    const local = await mortise('repo', 'add', 'bad', repo.url, '--interval', 'soon');
    expect(local.code).not.toBe(0);
    expect(local.stderr).toContain('--interval "soon" is not a duration');
    // ...but not names: that answer is the core's Status. One cause reads best inside the message.
    const one = await mortise('repo', 'add', 'Not_A_Name', repo.url);
    expect(one.code).not.toBe(0);
    const status = await rejected('Not_A_Name');
    expect(status.details.causes).toHaveLength(1);
    expect(one.stderr).toBe(`error: ${status.message}\n`);
    // Several are listed under the message's head.
    const long = 'A_'.repeat(130);
    const many = await mortise('repo', 'add', long, repo.url);
    expect(many.code).not.toBe(0);
    const causes = (await rejected(long)).details.causes;
    expect(causes.length).toBeGreaterThanOrEqual(2);
    expect(many.stderr).toBe([
      `error: Repository.extensions.mortise.io "${long}" is invalid:`,
      ...causes.map((c) => `  ${c.field}: ${c.message}`),
      '',
    ].join('\n'));
    // An existing name is the core's AlreadyExists.
    const dup = await mortise('repo', 'add', 'local', repo.url);
    expect(dup.code).not.toBe(0);
    expect(dup.stderr).toContain('error: repositories.extensions.mortise.io "local" already exists');
  });

  /** The Status the core answers to creating a repository of this name. */
  async function rejected(name: string) {
    const res = await core.api(`${api}/repositories`, { method: 'POST', json: { apiVersion: 'extensions.mortise.io/v1alpha1', kind: 'Repository', metadata: { name }, spec: { url: repo.url } } });
    expect(res.status).toBe(422);
    return (await res.json()) as { message: string; details: { causes: Array<{ field: string; message: string }> } };
  }

  it('repo add takes trusted keys from files, and refuses private keys', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const pub = join(dir, 'trusted.pub');
    const priv = join(dir, 'trusted.key');
    writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }));
    writeFileSync(priv, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const refused = await mortise('repo', 'add', 'signed', repo.url, '--trusted-key', priv);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('holds a private key');

    // The packages of the test repository are unsigned: with a trusted key they are refused at
    // install, not at sync, so the sync itself succeeds.
    const r = await mortise('repo', 'add', 'signed', repo.url, '--trusted-key', pub, '--no-wait');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Repository "signed" created');
    const stored = (await (await core.api(`${api}/repositories/signed`)).json()) as { spec: { trustedKeys: string[] } };
    expect(stored.spec.trustedKeys).toEqual([publicKey.export({ type: 'spki', format: 'pem' }).toString()]);
    ok(await mortise('repo', 'remove', 'signed'));
  });

  it('extension search matches name, display name, description and keywords, case-insensitively', async () => {
    const byName = tableRows(ok(await mortise('extension', 'search', 'HELLO')).stdout);
    expect(byName[0]).toEqual(['NAME', 'LATEST', 'RECOMMENDED', 'CATEGORY', 'DESCRIPTION']);
    expect(byName.slice(1).map((r) => r[0])).toEqual(['hello']);
    expect(byName[1]).toEqual(['hello', '1.1.0', '1.1.0', 'demo', 'Says hello to the signed-in user, now politely']);

    const byDisplayName = tableRows(ok(await mortise('extension', 'search', '你好')).stdout);
    expect(byDisplayName.slice(1).map((r) => r[0])).toEqual(['hello']);
    const byKeyword = tableRows(ok(await mortise('extension', 'search', 'kibana')).stdout);
    expect(byKeyword.slice(1).map((r) => r[0])).toEqual(['log-viewer']);
    const byDescription = tableRows(ok(await mortise('extension', 'search', 'container LOGS')).stdout);
    expect(byDescription.slice(1).map((r) => r[0])).toEqual(['log-viewer']);

    const byCategory = JSON.parse(ok(await mortise('extension', 'search', '--category', 'observability', '-o', 'json')).stdout) as Array<{ name: string; category: string }>;
    expect(byCategory.map((e) => e.name)).toEqual(['log-viewer']);

    const none = ok(await mortise('extension', 'search', 'hello', '--category', 'observability'));
    expect(none.stdout).toContain('No extensions match "hello" and are in category "observability".');
    const noCategory = ok(await mortise('extension', 'search', '--category', 'nope'));
    expect(noCategory.stdout).toContain('Categories: demo, observability');
  });

  it('extension list shows every extension, with INSTALLED from the InstallPlan where one exists', async () => {
    const plain = tableRows(ok(await mortise('extension', 'list')).stdout);
    expect(plain[0]).toEqual(['NAME', 'LATEST', 'RECOMMENDED', 'CATEGORY', 'INSTALLED', 'DESCRIPTION']);
    expect(plain.slice(1).map((r) => r[0])).toEqual(['flaky-ext', 'hello', 'log-viewer']);
    expect(plain.find((r) => r[0] === 'hello')![4]).toBe('-');

    // An install asked for through the API (lifecycle.test.ts covers `mortise extension install`);
    // the core's installer does it.
    const created = await core.api(`${api}/installplans`, {
      method: 'POST',
      json: { apiVersion: 'extensions.mortise.io/v1alpha1', kind: 'InstallPlan', metadata: { name: 'hello' }, spec: { extension: { name: 'hello', version: '1.0.0' }, enabled: true } },
    });
    expect(created.status).toBe(201);
    const installed = await planState('hello', 'Installed');

    const rows = tableRows(ok(await mortise('extension', 'list')).stdout);
    expect(rows.find((r) => r[0] === 'hello')![4]).toBe('1.0.0');
    expect(rows.find((r) => r[0] === 'log-viewer')![4]).toBe('-');
    const json = JSON.parse(ok(await mortise('extension', 'list', '--installed', '-o', 'json')).stdout) as Array<{ name: string; installed: unknown }>;
    expect(json).toEqual([expect.objectContaining({
      name: 'hello', installed: { state: 'Installed', version: '1.0.0', targetVersion: '1.0.0', enabled: true, message: installed.message ?? null },
    })]);

    // Disabled, the state shows next to the version.
    const disabled = await core.api(`${api}/installplans/hello`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { spec: { enabled: false } } });
    expect(disabled.status).toBe(200);
    await planState('hello', 'Disabled');
    expect(tableRows(ok(await mortise('extension', 'list')).stdout).find((r) => r[0] === 'hello')![4]).toBe('1.0.0 (Disabled)');
    const enabled = await core.api(`${api}/installplans/hello`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { spec: { enabled: true } } });
    expect(enabled.status).toBe(200);
    await planState('hello', 'Installed');
  });

  /** Waits for the installer to bring the InstallPlan to `state`. */
  async function planState(name: string, state: string): Promise<{ state: string; installedVersion?: string; message?: string }> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const plan = (await (await core.api(`${api}/installplans/${name}`)).json()) as { status?: { state: string; installedVersion?: string; message?: string } };
      if (plan.status?.state === state) return plan.status;
      if (Date.now() > deadline) throw new Error(`InstallPlan ${name} did not reach ${state}: ${JSON.stringify(plan.status)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('extension info shows details, versions with yanked and compatible marks, and the install state', async () => {
    await repo.publish({
      name: 'hello', version: '2.0.0', displayName: { en: 'Hello World', zh: '你好世界' }, description: 'Says hello on future cores',
      category: 'demo', keywords: ['greeting'], provider: { name: 'Acme' }, engines: { mortise: '>=9.0.0' },
    });
    repo.yank('hello', '1.0.0', 'leaks the greeting');
    ok(await mortise('repo', 'sync', 'local'));

    const r = ok(await mortise('extension', 'info', 'hello'));
    const text = r.stdout;
    expect(text).toMatch(/^Name:\s+hello$/m);
    expect(text).toMatch(/^Display name:\s+Hello World$/m);
    expect(text).toMatch(/^Description:\s+Says hello on future cores$/m);
    expect(text).toMatch(/^Provider:\s+Acme$/m);
    expect(text).toMatch(/^Category:\s+demo$/m);
    expect(text).toMatch(/^Keywords:\s+greeting$/m);
    expect(text).toMatch(/^Repository:\s+local$/m);
    expect(text).toMatch(/^Latest:\s+2\.0\.0$/m);
    expect(text).toMatch(/^Recommended:\s+1\.1\.0$/m);
    expect(text).toMatch(/^Installed:\s+Installed 1\.0\.0, enabled$/m);
    expect(text).toMatch(/^\s+VERSION\s+PUBLISHED\s+REQUIRES MORTISE\s+NOTES$/m);
    expect(text).toMatch(/^\s+2\.0\.0\s+\S+\s+>=9\.0\.0\s+latest, incompatible with this core$/m);
    expect(text).toMatch(/^\s+1\.1\.0\s+\S+\s+>=0\.1\.0\s+recommended$/m);
    expect(text).toMatch(/^\s+1\.0\.0\s+\S+\s+>=0\.1\.0\s+installed, yanked: leaks the greeting$/m);

    const json = JSON.parse(ok(await mortise('extension', 'info', 'hello', '-o', 'json')).stdout) as {
      name: string; latestVersion: string; recommendedVersion: string; license: string;
      versions: Array<{ version: string; yanked: boolean; compatible: boolean; yankedReason: string | null; digest: string }>;
    };
    expect(json).toMatchObject({ name: 'hello', latestVersion: '2.0.0', recommendedVersion: '1.1.0', license: 'MIT' });
    expect(json.versions.map((v) => [v.version, v.yanked, v.compatible])).toEqual([['2.0.0', false, false], ['1.1.0', false, true], ['1.0.0', true, true]]);
    expect(json.versions[2]!.yankedReason).toBe('leaks the greeting');
    expect(json.versions[0]!.digest).toMatch(/^[0-9a-f]{64}$/);

    const notInstalled = ok(await mortise('extension', 'info', 'log-viewer'));
    expect(notInstalled.stdout).toMatch(/^Installed:\s+not installed$/m);
    expect(notInstalled.stdout).toMatch(/^Provider:\s+Observa$/m);
    expect(notInstalled.stdout).toMatch(/^License:\s+Apache-2\.0$/m);
  });

  it('extension info of an unknown extension exits non-zero and says how to find one', async () => {
    const r = await mortise('extension', 'info', 'nope');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('error: no extension "nope" in the marketplace');
    expect(r.stderr).toContain('mortise extension search');
  });

  it('repo remove deletes the repository and the extensions it brought', async () => {
    const r = ok(await mortise('repo', 'remove', 'flaky'));
    expect(r.stdout).toContain('Repository "flaky" removed');
    const list = JSON.parse(ok(await mortise('repo', 'list', '-o', 'json')).stdout) as Array<{ name: string }>;
    expect(list.map((x) => x.name)).toEqual(['local']);
    // Garbage collection of the owned Extension follows the owner's deletion.
    const deadline = Date.now() + 10_000;
    while ((await core.api(`${api}/extensions/flaky-ext`)).status !== 404) {
      if (Date.now() > deadline) throw new Error('flaky-ext was not deleted with its repository');
      await new Promise((res) => setTimeout(res, 100));
    }
    const missing = await mortise('repo', 'remove', 'flaky');
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/error: .*"flaky" not found/);

    // An installed extension whose repository is gone is still listed as installed.
    ok(await mortise('repo', 'remove', 'local'));
    const deadline2 = Date.now() + 10_000;
    while ((await core.api(`${api}/extensions/hello`)).status !== 404) {
      if (Date.now() > deadline2) throw new Error('hello was not deleted with its repository');
      await new Promise((res) => setTimeout(res, 100));
    }
    const rows = tableRows(ok(await mortise('extension', 'list')).stdout);
    expect(rows.slice(1).map((r) => [r[0], r[4]])).toEqual([['hello', '1.0.0']]);
  });
});
