import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addToIndex, emptyRepositoryIndex, generateSigningKeyPair, packExtension, parseRepositoryIndex, serializeRepositoryIndex, sha256Hex, signDigest, type ExtensionManifest } from '@mortise/extension-sdk';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createMarketplaceServer, type MarketplaceServer } from '@mortise/marketplace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tgzOf } from '../../extension-sdk/test/helpers/tar-builder.js';
import { buildBundledRepository } from '../src/extensions/bundled-repository.js';
import { createLogger } from '../src/ops/logger.js';
import { directorySymlinks } from '../src/runtime/permissions.js';
import { call, eventually, login, startTestCore, type TestCore } from './support/test-core.js';

const helloWorld = join(import.meta.dirname, '..', '..', 'examples', 'hello-world');
const ext = '/apis/extensions.mortise.io/v1alpha1';
type Plan = { metadata: { finalizers?: string[] }; status?: { state?: string; message?: string; installedVersion?: string; history?: Array<{ state: string }> } };

/** A copy of examples/hello-world at another version, optionally with another greeting or a broken backend. */
function variant(root: string, version: string, opts: { greeting?: string; broken?: boolean; engines?: string; dependencies?: Record<string, string> } = {}): void {
  const dir = join(root, `hello-world-${version}`);
  cpSync(helloWorld, dir, { recursive: true, filter: (src) => !src.includes('node_modules') });
  let manifest = readFileSync(join(dir, 'extension.yaml'), 'utf8').replace(/^version: .*$/m, `version: ${version}`);
  if (opts.greeting) manifest = manifest.replace(/greeting: Hello$/m, `greeting: ${opts.greeting}`).replace(/default: Hello$/m, `default: ${opts.greeting}`);
  if (opts.engines) manifest = manifest.replace(/mortise: ".*"$/m, `mortise: "${opts.engines}"`);
  if (opts.dependencies) manifest += `dependencies:\n${Object.entries(opts.dependencies).map(([k, v]) => `  ${k}: "${v}"`).join('\n')}\n`;
  writeFileSync(join(dir, 'extension.yaml'), manifest);
  if (opts.broken) writeFileSync(join(dir, 'dist', 'server.js'), 'console.error("cannot start: no database"); process.exit(3);\n');
}

describe('extension lifecycle: install, gateway, toggle, upgrade, uninstall', () => {
  let t: TestCore;
  let bob = '';
  const work = mkdtempSync(join(tmpdir(), 'mortise-lifecycle-'));
  const repoDir = join(work, 'repo');
  let trustedKeyPem = '';
  let market: MarketplaceServer | undefined;
  let signedRepoDir = '';
  const plan = async (name = 'hello-world') => (await (await t.api(`${ext}/installplans/${name}`)).json()) as Plan;
  const waitState = (state: string, name = 'hello-world', timeoutMs = 30_000) =>
    eventually(async () => {
      const p = await plan(name);
      return p.status?.state === state ? p : undefined;
    }, timeoutMs, `${name} ${state}`);
  const hello = (token = t.token) => call(t.url, token, '/proxy/hello-world/hello');
  const setSpec = (spec: object, name = 'hello-world') => t.api(`${ext}/installplans/${name}`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { spec } });

  beforeAll(async () => {
    if (!existsSync(join(helloWorld, 'dist', 'server.js'))) throw new Error('examples/hello-world is not built: run `npm run build` (npm test does)');
    const src = join(work, 'src');
    variant(src, '0.1.0');
    variant(src, '0.2.0', { greeting: 'Hi' });
    variant(src, '0.3.0', { broken: true });
    variant(src, '0.4.0', { engines: '>=9.0.0' });
    variant(src, '0.5.0', { dependencies: { 'not-installed': '^1.0.0' } });
    await buildBundledRepository([src], repoDir, createLogger({ level: 'silent' }));
    // A hostile package: correct digest, but an entry that climbs out of the package root.
    const manifest = {
      apiVersion: 'mortise.io/v1alpha1', kind: 'Extension', name: 'climber', version: '1.0.0', displayName: 'Climber', description: 'escapes',
      category: 'examples', provider: { name: 'Evil' }, license: 'MIT', engines: { mortise: '>=0.1.0' },
    } as ExtensionManifest;
    const hostile = tgzOf([{ path: 'extension.yaml', data: JSON.stringify(manifest) }, { path: '../../escaped.txt', data: 'gotcha' }]);
    writeFileSync(join(repoDir, 'packages', 'climber-1.0.0.tgz'), hostile);
    // Absolute paths and links out of the package, behind correct digests too.
    const absolute = tgzOf([{ path: 'extension.yaml', data: JSON.stringify({ ...manifest, name: 'rooted' }) }, { path: '/tmp/mortise-rooted.txt', data: 'gotcha' }]);
    const linked = tgzOf([{ path: 'extension.yaml', data: JSON.stringify({ ...manifest, name: 'linker' }) }, { path: 'etc', type: 'SymbolicLink', linkpath: '/etc' }]);
    writeFileSync(join(repoDir, 'packages', 'rooted-1.0.0.tgz'), absolute);
    writeFileSync(join(repoDir, 'packages', 'linker-1.0.0.tgz'), linked);
    // And a package whose bytes changed after the index was written.
    const tampered = { ...manifest, name: 'tampered', description: 'changed after publishing' } as ExtensionManifest;
    const good = tgzOf([{ path: 'extension.yaml', data: JSON.stringify(tampered) }]);
    writeFileSync(join(repoDir, 'packages', 'tampered-1.0.0.tgz'), Buffer.concat([good, Buffer.from('extra bytes')]));
    let index = parseRepositoryIndex(readFileSync(join(repoDir, 'index.yaml'), 'utf8'));
    index = addToIndex(index, manifest, { digest: sha256Hex(hostile), url: 'packages/climber-1.0.0.tgz' });
    index = addToIndex(index, { ...manifest, name: 'rooted' } as ExtensionManifest, { digest: sha256Hex(absolute), url: 'packages/rooted-1.0.0.tgz' });
    index = addToIndex(index, { ...manifest, name: 'linker' } as ExtensionManifest, { digest: sha256Hex(linked), url: 'packages/linker-1.0.0.tgz' });
    index = addToIndex(index, tampered, { digest: sha256Hex(good), url: 'packages/tampered-1.0.0.tgz' });
    // A package whose manifest is invalid (no provider, bad version) behind a plausible index entry.
    const invalid = tgzOf([{ path: 'extension.yaml', data: 'apiVersion: mortise.io/v1alpha1\nkind: Extension\nname: broken\nversion: one\n' }]);
    writeFileSync(join(repoDir, 'packages', 'broken-1.0.0.tgz'), invalid);
    index = addToIndex(index, { ...manifest, name: 'broken' } as ExtensionManifest, { digest: sha256Hex(invalid), url: 'packages/broken-1.0.0.tgz' });
    writeFileSync(join(repoDir, 'index.yaml'), serializeRepositoryIndex(index));

    // A repository that trusts one key, offering a package signed by another.
    const trusted = generateSigningKeyPair();
    const other = generateSigningKeyPair();
    const signedSrc = join(work, 'signed-src', 'signed-ext');
    mkdirSync(signedSrc, { recursive: true });
    writeFileSync(join(signedSrc, 'extension.yaml'), 'apiVersion: mortise.io/v1alpha1\nkind: Extension\nname: signed-ext\nversion: 1.0.0\ndisplayName: Signed\ndescription: signed by the wrong key\ncategory: examples\nprovider: {name: Tester}\nlicense: MIT\nengines: {mortise: ">=0.1.0"}\n');
    const signedDir = join(work, 'signed-repo');
    const packed = await packExtension(signedSrc, { outDir: join(signedDir, 'packages') });
    const signedIndex = addToIndex(parseRepositoryIndex(serializeRepositoryIndex({ apiVersion: 'v1', generated: new Date().toISOString(), entries: {}, categories: [] })), packed.manifest, {
      digest: packed.sha256, url: 'packages/signed-ext-1.0.0.tgz', signature: signDigest(packed.sha256, other.privateKeyPem),
    });
    writeFileSync(join(signedDir, 'index.yaml'), serializeRepositoryIndex(signedIndex));
    trustedKeyPem = trusted.publicKeyPem;
    signedRepoDir = signedDir;

    t = await startTestCore({ backendReadyTimeoutMs: 8000 });
    await t.api('/apis/iam.mortise.io/v1alpha1/users', { method: 'POST', json: { metadata: { name: 'bob' }, spec: { password: 'bob-password-1' } } });
    bob = await login(t.url, 'bob', 'bob-password-1');
    expect((await t.api(`${ext}/repositories`, { method: 'POST', json: { metadata: { name: 'local' }, spec: { url: `file://${repoDir}` } } })).status).toBe(201);
    await eventually(async () => (await t.api(`${ext}/extensionversions/hello-world-0.5.0`)).status === 200, 10_000, 'repository synced');
  });
  afterAll(async () => {
    await t?.close();
    await market?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('installs hello-world and serves it through the gateway with the caller\'s identity', async () => {
    const res = await t.api(`${ext}/installplans`, { method: 'POST', json: { metadata: { name: 'hello-world' }, spec: { extension: { name: 'hello-world', version: '0.1.0' }, enabled: true } } });
    expect(res.status).toBe(201);
    const p = await waitState('Installed');
    expect(p.status!.installedVersion).toBe('0.1.0');
    expect(p.metadata.finalizers).toContain('extensions.mortise.io/uninstall');
    expect(p.status!.history!.map((h) => h.state)).toEqual(expect.arrayContaining(['Downloading', 'Installing', 'Installed']));
    expect(await (await hello()).json()).toEqual({ message: 'Hello, admin!', user: 'admin' });
    await eventually(async () => (await hello(bob)).status === 200, 2000, 'bob reaches the proxy');
    expect(await (await hello(bob)).json()).toEqual({ message: 'Hello, bob!', user: 'bob' });
    // Everything it brought is labelled and owned by the plan.
    const proxies = (await (await t.api(`${ext}/reverseproxies?labelSelector=extensions.mortise.io/extension%3Dhello-world`)).json()) as { items: Array<{ metadata: { ownerReferences: Array<{ kind: string }> } }> };
    expect(proxies.items).toHaveLength(1);
    expect(proxies.items[0]!.metadata.ownerReferences[0]!.kind).toBe('InstallPlan');
    expect((await t.api('/apis/iam.mortise.io/v1alpha1/users/extension-hello-world')).status).toBe(200);
    // The SDK reaches the backend as copied files: no directory link lets `..` out of the sandbox.
    expect(directorySymlinks(join(t.dataDir!, 'extensions', 'unpacked'))).toEqual([]);
  });

  it('refuses anonymous callers before the backend sees them', async () => {
    expect((await call(t.url, undefined, '/proxy/hello-world/hello')).status).toBe(401);
  });

  it('disables at once (503 that says so) and enables again', async () => {
    const started = Date.now();
    await setSpec({ enabled: false });
    const off = await hello();
    expect(off.status).toBe(503);
    expect(await off.json()).toMatchObject({ kind: 'Status', code: 503, reason: 'ServiceUnavailable', message: expect.stringContaining('the extension "hello-world" is disabled') });
    expect(Date.now() - started).toBeLessThan(1000);
    await waitState('Disabled');
    await eventually(async () => t.core.runtime.list().every((b) => b.state === 'Stopped' || b.extension !== 'hello-world'), 10_000, 'backend stopped');
    // A disabled route names no backend at all (no placeholder address): the gateway knows it is disabled.
    const disabled = (await (await t.api(`${ext}/reverseproxies?labelSelector=extensions.mortise.io/extension%3Dhello-world`)).json()) as { items: Array<{ spec: { enabled: boolean; upstream?: { url?: string } } }> };
    expect(disabled.items.map((p) => p.spec)).toEqual([expect.objectContaining({ enabled: false, upstream: {} })]);
    await setSpec({ enabled: true });
    await eventually(async () => (await hello()).status === 200, 20_000, 'enabled again');
    await waitState('Installed');
  });

  it('answers 503 while a crashed backend restarts, and the core is unaffected', async () => {
    const backend = t.core.runtime.status('hello-world@0.1.0')!;
    expect(backend.state).toBe('Ready');
    process.kill(backend.pid!, 'SIGKILL');
    const during = await eventually(async () => {
      const r = await hello();
      return r.status === 503 ? r : undefined;
    }, 5000, '503 while down');
    expect(((await during.json()) as { message: string }).message).toContain('not ready');
    expect((await t.api('/readyz')).status).toBe(200);
    await eventually(async () => (await hello()).status === 200, 20_000, 'restarted');
    expect(t.core.runtime.status('hello-world@0.1.0')!.restarts).toBeGreaterThanOrEqual(1);
  });

  it('upgrades: the new version serves once healthy and the old one stops', async () => {
    await setSpec({ extension: { name: 'hello-world', version: '0.2.0' } });
    await eventually(async () => (await plan()).status?.installedVersion === '0.2.0', 30_000, 'upgraded');
    expect(await (await hello()).json()).toEqual({ message: 'Hi, admin!', user: 'admin' });
    await eventually(async () => t.core.runtime.status('hello-world@0.1.0')?.state === 'Stopped' || !t.core.runtime.status('hello-world@0.1.0'), 10_000, 'old backend stopped');
  });

  it('rolls back a failed upgrade: the old version keeps serving', async () => {
    await setSpec({ extension: { name: 'hello-world', version: '0.3.0' } });
    const p = await waitState('UpgradeFailed', 'hello-world', 40_000);
    expect(p.status!.installedVersion).toBe('0.2.0');
    expect(p.status!.message).toContain('0.2.0 still serving');
    expect(p.status!.message).toContain('cannot start: no database');
    expect(await (await hello()).json()).toEqual({ message: 'Hi, admin!', user: 'admin' });
    expect(t.core.runtime.status('hello-world@0.3.0')?.state ?? 'Stopped').toBe('Stopped');
    // Back to a good version: the failed state has a way out.
    await setSpec({ extension: { name: 'hello-world', version: '0.2.0' } });
    await waitState('Installed');
  });

  it('refuses an engine or dependency it cannot satisfy, and invalid config', async () => {
    await setSpec({ extension: { name: 'hello-world', version: '0.4.0' } });
    expect((await waitState('UpgradeFailed')).status!.message).toContain('needs a Mortise core >=9.0.0');
    await setSpec({ extension: { name: 'hello-world', version: '0.5.0' } });
    await eventually(async () => (await plan()).status?.message?.includes('depends on not-installed') ? true : undefined, 20_000, 'dependency refusal');
    await setSpec({ extension: { name: 'hello-world', version: '0.2.0' }, config: { greeting: 42 } });
    await eventually(async () => (await plan()).status?.message?.includes('spec.config is invalid') ? true : undefined, 20_000, 'config refusal');
    await setSpec({ config: { greeting: 'Hey' } });
    await waitState('Installed');
  });

  it('disables and enables the version still installed while an upgrade is failed', async () => {
    await setSpec({ extension: { name: 'hello-world', version: '0.4.0' } });
    await waitState('UpgradeFailed');
    expect((await hello()).status).toBe(200);
    // An admin turning an extension off (an incident, say) is obeyed whatever its upgrade's state.
    await setSpec({ enabled: false });
    await eventually(async () => (await hello()).status === 503 ? true : undefined, 20_000, 'disabled while its upgrade is failed');
    await eventually(async () => t.core.runtime.status('hello-world@0.2.0')?.state === 'Stopped' || !t.core.runtime.status('hello-world@0.2.0'), 10_000, 'its backend stopped');
    // The upgrade is tried again (the spec changed) and fails again; the installed version stays, off.
    const disabled = await eventually(async () => {
      const p = (await plan()) as Plan & { status?: { conditions?: Array<{ type: string; status: string }> } };
      return p.status?.state === 'UpgradeFailed' && p.status.conditions?.find((c) => c.type === 'Enabled')?.status === 'False' ? p : undefined;
    }, 20_000, 'UpgradeFailed, disabled');
    expect(disabled.status!.installedVersion).toBe('0.2.0');
    expect((await hello()).status).toBe(503);
    await setSpec({ enabled: true });
    await eventually(async () => (await hello()).status === 200 ? true : undefined, 30_000, 'enabled again');
    expect(await (await hello()).json()).toEqual({ message: 'Hey, admin!', user: 'admin' });
    await setSpec({ extension: { name: 'hello-world', version: '0.2.0' } });
    await waitState('Installed');
  });

  it('rejects hostile packages with a clear status and leaves nothing behind', async () => {
    for (const [name, why] of [['climber', 'escapes'], ['rooted', 'absolute'], ['linker', 'link'], ['tampered', 'sha256']] as const) {
      await t.api(`${ext}/installplans`, { method: 'POST', json: { metadata: { name }, spec: { extension: { name, version: '1.0.0' }, enabled: true } } });
      const p = await waitState('InstallFailed', name);
      expect(p.status!.message!.toLowerCase()).toContain(why);
      expect(existsSync(join(t.dataDir!, 'extensions', 'unpacked', name, '1.0.0'))).toBe(false);
      expect(existsSync(join(t.dataDir!, 'extensions', 'unpacked', 'escaped.txt'))).toBe(false);
      expect(existsSync(join(t.dataDir!, 'extensions', 'escaped.txt'))).toBe(false);
      expect(existsSync('/tmp/mortise-rooted.txt')).toBe(false);
      // A failed plan can always be removed.
      await t.api(`${ext}/installplans/${name}`, { method: 'DELETE' });
      await eventually(async () => (await t.api(`${ext}/installplans/${name}`)).status === 404, 10_000, `${name} removed`);
    }
  });

  it('refuses an invalid manifest and a signature by an untrusted key', async () => {
    await t.api(`${ext}/installplans`, { method: 'POST', json: { metadata: { name: 'broken' }, spec: { extension: { name: 'broken', version: '1.0.0' }, enabled: true } } });
    const broken = await waitState('InstallFailed', 'broken');
    expect(broken.status!.message).toMatch(/manifest|extension\.yaml/i);
    expect(existsSync(join(t.dataDir!, 'extensions', 'unpacked', 'broken', '1.0.0'))).toBe(false);

    await t.api(`${ext}/repositories`, { method: 'POST', json: { metadata: { name: 'signed' }, spec: { url: `file://${signedRepoDir}`, trustedKeys: [trustedKeyPem] } } });
    await eventually(async () => (await t.api(`${ext}/extensionversions/signed-ext-1.0.0`)).status === 200, 10_000, 'signed repository synced');
    await t.api(`${ext}/installplans`, { method: 'POST', json: { metadata: { name: 'signed-ext' }, spec: { extension: { name: 'signed-ext', version: '1.0.0' }, enabled: true } } });
    const signed = await waitState('InstallFailed', 'signed-ext');
    expect(signed.status!.message!.toLowerCase()).toMatch(/sign/);
    expect(existsSync(join(t.dataDir!, 'extensions', 'unpacked', 'signed-ext'))).toBe(false);
  });

  it('installs from a real marketplace: pack and publish with mortise-ext, sync, install, serve', async () => {
    // The same backend under another name: identities are minted for whatever the runtime names it.
    const src = join(work, 'greeter-src', 'greeter');
    cpSync(helloWorld, src, { recursive: true, filter: (p) => !p.includes('node_modules') });
    writeFileSync(join(src, 'extension.yaml'), readFileSync(join(src, 'extension.yaml'), 'utf8')
      .replace(/^name: hello-world$/m, 'name: greeter').replace('/proxy/hello-world/', '/proxy/greeter/').replace(/greeting: Hello$/m, 'greeting: Greetings'));
    market = await createMarketplaceServer({ dataDir: join(work, 'market'), tokens: [{ token: 'publish-token' }], logLevel: 'silent' });
    const { port } = await market.listen(0, '127.0.0.1');
    const cli = join(import.meta.dirname, '..', '..', 'extension-sdk', 'bin', 'mortise-ext.js');
    const run = promisify(execFile);
    const packed = await run(process.execPath, [cli, 'pack', src, '--out', join(work, 'greeter-out')]);
    const tgz = /(\S+greeter-0\.1\.0\.tgz)/.exec(packed.stdout)?.[1];
    expect(tgz, packed.stdout).toBeTruthy();
    await run(process.execPath, [cli, 'publish', tgz!, '--to', `http://127.0.0.1:${port}`, '--token', 'publish-token']);
    await t.api(`${ext}/repositories`, { method: 'POST', json: { metadata: { name: 'market' }, spec: { url: `http://127.0.0.1:${port}/main` } } });
    await eventually(async () => (await t.api(`${ext}/extensionversions/greeter-0.1.0`)).status === 200, 10_000, 'marketplace synced');
    await t.api(`${ext}/installplans`, { method: 'POST', json: { metadata: { name: 'greeter' }, spec: { extension: { name: 'greeter', version: '0.1.0' }, enabled: true } } });
    await waitState('Installed', 'greeter');
    const r = await eventually(async () => {
      const res = await call(t.url, t.token, '/proxy/greeter/hello');
      return res.ok ? ((await res.json()) as { message: string }) : undefined;
    }, 10_000, 'greeter serving');
    expect(r.message).toBe('Greetings, admin!');
    await t.api(`${ext}/installplans/greeter`, { method: 'DELETE' });
    await eventually(async () => (await t.api(`${ext}/installplans/greeter`)).status === 404, 20_000, 'greeter uninstalled');
  });

  it('goes on by itself once a repository offers the version a plan names, and once its dependency is installed in range', async () => {
    // Plans applied with their repository, or before a sync offers a new version, or before what
    // they depend on is installed, go on once that is so: no retry by hand, whatever the order.
    const lateDir = join(work, 'late-repo');
    const publish = async (name: string, version: string, dependencies = '') => {
      const src = join(work, 'late-src', version, name);
      mkdirSync(src, { recursive: true });
      writeFileSync(join(src, 'extension.yaml'), `apiVersion: mortise.io/v1alpha1\nkind: Extension\nname: ${name}\nversion: ${version}\ndisplayName: ${name}\ndescription: published after its plan\ncategory: examples\nprovider: {name: Tester}\nlicense: MIT\nengines: {mortise: ">=0.1.0"}\n${dependencies}`);
      const packed = await packExtension(src, { outDir: join(lateDir, 'packages') });
      const before = existsSync(join(lateDir, 'index.yaml')) ? parseRepositoryIndex(readFileSync(join(lateDir, 'index.yaml'), 'utf8')) : emptyRepositoryIndex();
      writeFileSync(join(lateDir, 'index.yaml'), serializeRepositoryIndex(addToIndex(before, packed.manifest, { digest: packed.sha256, url: `packages/${name}-${version}.tgz` })));
    };
    type Waiting = Plan & { metadata: { annotations?: Record<string, string> }; status?: { conditions?: Array<{ type: string; reason: string }> } };
    const failedBecause = (p: Waiting) => p.status?.conditions?.find((c) => c.type === 'Installed')?.reason;
    const installPlan = (name: string) => t.api(`${ext}/installplans`, { method: 'POST', json: { metadata: { name }, spec: { extension: { name, version: '1.0.0' }, enabled: true } } });

    await installPlan('late');
    const waiting = (await waitState('InstallFailed', 'late')) as Waiting;
    expect(waiting.status!.message).toContain('it is installed as soon as a repository offers it');
    expect(failedBecause(waiting)).toBe('VersionNotOffered');

    await publish('late', '1.0.0');
    await publish('needy', '1.0.0', 'dependencies: {late: "^1.1.0"}\n');
    await t.api(`${ext}/repositories`, { method: 'POST', json: { metadata: { name: 'late-repo' }, spec: { url: `file://${lateDir}` } } });
    const installed = (await waitState('Installed', 'late')) as Waiting;
    expect(installed.status!.installedVersion).toBe('1.0.0');
    expect(installed.metadata.annotations?.['extensions.mortise.io/retry-at']).toBeUndefined();

    // needy wants late ^1.1.0, and late 1.0.0 is installed.
    await installPlan('needy');
    const needy = (await waitState('InstallFailed', 'needy')) as Waiting;
    expect(needy.status!.message).toContain('needy depends on late ^1.1.0, but late 1.0.0 is installed; it is installed as soon as late ^1.1.0 is installed');
    expect(failedBecause(needy)).toBe('DependencyNotInstalled');

    await setSpec({ extension: { name: 'late', version: '1.1.0' } }, 'late');
    const upgrading = (await waitState('UpgradeFailed', 'late')) as Waiting;
    expect(upgrading.status!.message).toContain('the upgrade goes on as soon as a repository offers it');
    expect(upgrading.status!.installedVersion).toBe('1.0.0');
    expect(failedBecause(upgrading)).toBe('VersionNotOffered');
    expect((await plan('needy')).status?.state).toBe('InstallFailed');

    await publish('late', '1.1.0');
    await t.api(`${ext}/repositories/late-repo`, {
      method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' },
      json: { metadata: { annotations: { 'extensions.mortise.io/sync-requested-at': new Date().toISOString() } } },
    });
    const upgraded = await eventually(async () => {
      const p = await plan('late');
      return p.status?.state === 'Installed' && p.status.installedVersion === '1.1.0' ? p : undefined;
    }, 30_000, 'late upgraded to 1.1.0');
    expect(upgraded.status!.history!.map((h) => h.state)).toContain('UpgradeFailed');
    // Without its resync (30 s): late's new version is what needy was waiting for.
    const served = (await waitState('Installed', 'needy', 10_000)) as Waiting;
    expect(served.status!.installedVersion).toBe('1.0.0');
    expect(served.metadata.annotations?.['extensions.mortise.io/retry-at']).toBeUndefined();

    for (const name of ['needy', 'late']) {
      await t.api(`${ext}/installplans/${name}`, { method: 'DELETE' });
      await eventually(async () => (await t.api(`${ext}/installplans/${name}`)).status === 404, 20_000, `${name} uninstalled`);
    }
    await t.api(`${ext}/repositories/late-repo`, { method: 'DELETE' });
  });

  it('uninstalls cleanly: routes, identity, backend and files gone', async () => {
    expect((await t.api(`${ext}/installplans/hello-world`, { method: 'DELETE' })).status).toBeLessThan(300);
    await eventually(async () => (await t.api(`${ext}/installplans/hello-world`)).status === 404, 20_000, 'plan gone');
    expect((await hello()).status).toBe(404);
    for (const path of [`${ext}/reverseproxies`, `${ext}/apiservices`, '/apis/iam.mortise.io/v1alpha1/roletemplates', '/apis/iam.mortise.io/v1alpha1/globalrolebindings']) {
      const list = (await (await t.api(`${path}?labelSelector=extensions.mortise.io/extension%3Dhello-world`)).json()) as { items: unknown[] };
      expect(list.items, path).toEqual([]);
    }
    expect((await t.api('/apis/iam.mortise.io/v1alpha1/users/extension-hello-world')).status).toBe(404);
    expect(t.core.runtime.list().filter((b) => b.id.startsWith('hello-world@') && b.state !== 'Stopped')).toEqual([]);
    expect(existsSync(join(t.dataDir!, 'extensions', 'unpacked', 'hello-world'))).toBe(false);
    mkdirSync(join(work, 'done'), { recursive: true });
  });
});
