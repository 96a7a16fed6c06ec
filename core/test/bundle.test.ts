import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { corePackageDir } from '../src/package-dir.js';
import { defaultConsoleDir } from '../src/http/console-routes.js';
import { crdDir } from '../src/store/kube/cluster-setup.js';
import { precompiledName } from '../src/registry/schema-validator.js';
import { builtinKinds } from '../src/schemas/builtin-kinds.js';
import { mainJs, startChildCore, type ChildCore } from './support/child-core.js';
import { adminPassword, call, eventually, login, startTestCore, workspace, type TestCore } from './support/test-core.js';

// The core's bundle (core/scripts/bundle.mjs): what `npm start` runs, started as a child process
// on a fresh data dir. It must serve like tsc's output does, find the files that live beside the
// code (the console, the checkout's extensions) from its own directory, and load no module of
// core/dist outside the bundle.

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const ext = '/apis/extensions.mortise.io/v1alpha1';

describe('the files beside the code', () => {
  it('are found from the package root, whatever the depth of the module asking', () => {
    const dir = corePackageDir();
    expect((JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name: string }).name).toBe('@mortise/core');
    expect(defaultConsoleDir).toBe(join(dir, 'console', 'dist'));
    expect(crdDir).toBe(join(dir, 'config', 'crds'));
    expect(readFileSync(join(crdDir, 'tenant.mortise.io_workspaces.yaml'), 'utf8')).toContain('kind: CustomResourceDefinition');
  });
});

describe('the bundled core', () => {
  const dirs: string[] = [];
  const children: ChildCore[] = [];
  const inProcess: TestCore[] = [];
  const tempDir = (prefix: string) => {
    dirs.push(mkdtempSync(join(tmpdir(), prefix)));
    return dirs.at(-1)!;
  };
  afterAll(async () => {
    await Promise.all([...children.map((c) => c.stop('SIGTERM')), ...inProcess.map((c) => c.close())]);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('is what `npm start` runs, built by `npm run build`', () => {
    const scripts = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    expect(mainJs).toBe(join(corePackageDir(), 'dist', 'bundle', 'main.js'));
    expect(scripts.start).toBe('npm run build && node core/dist/bundle/main.js');
    expect(scripts.build).toContain('tsc -b && node core/scripts/bundle.mjs');
  });

  it('on a fresh data dir: ready, serves the API and the console, packs the checkout\'s extensions, loading only its own files', async () => {
    const dataDir = tempDir('mortise-bundle-data-');
    const modulesFile = join(tempDir('mortise-bundle-modules-'), 'esm.txt');
    // start-cost.mjs's hooks list every ES module the process loads.
    const preload = pathToFileURL(join(repoRoot, 'scripts', 'start-cost-preload.mjs')).href;
    const core = await startChildCore({
      MORTISE_DATA_DIR: dataDir, MORTISE_ADMIN_PASSWORD: adminPassword, MORTISE_LOG_LEVEL: 'warn',
      NODE_OPTIONS: `--import=${preload}`, START_COST_ESM: modulesFile, START_COST_CJS: join(dirname(modulesFile), 'cjs.txt'),
    });
    children.push(core);
    expect(await (await fetch(`${core.url}/readyz`)).text()).toBe('ok');

    const token = await login(core.url, 'admin', adminPassword);
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'from-the-bundle' }, data: { a: '1' } };
    expect((await call(core.url, token, '/api/v1/namespaces/default/configmaps', { method: 'POST', json: cm })).status).toBe(201);
    const got = await call(core.url, token, '/api/v1/namespaces/default/configmaps/from-the-bundle');
    expect(((await got.json()) as { data: Record<string, string> }).data).toEqual({ a: '1' });

    // The console's page, found from the bundle's directory.
    const page = await fetch(`${core.url}/`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<script');

    // The checkout's examples/ and extensions/, found from the bundle's directory, become the bundled repository.
    await eventually(async () => (await call(core.url, token, `${ext}/extensionversions/hello-world-0.1.0`)).status === 200, 30_000, 'the bundled repository offers hello-world');

    const modules = [...new Set(readFileSync(modulesFile, 'utf8').split('\n').filter(Boolean))].map((u) => fileURLToPath(u));
    const bundleDir = dirname(mainJs) + sep;
    expect(modules.filter((m) => !m.startsWith(bundleDir) && !m.startsWith(join(repoRoot, 'scripts') + sep))).toEqual([]);
    expect(modules).toContain(mainJs);
  });

  it('holds every built-in kind\'s validator, compiled at build time, and refuses what tsc\'s output refuses, with the same causes', async () => {
    const bundleText = readdirSync(dirname(mainJs)).filter((f) => f.endsWith('.js')).map((f) => readFileSync(join(dirname(mainJs), f), 'utf8')).join('\n');
    const names = /precompiledValidators = \{([^}]*)\}/.exec(bundleText)?.[1]?.split(',').map((n) => n.trim()) ?? [];
    for (const kind of builtinKinds()) expect(names, kind.kind).toContain(precompiledName(kind.schema));

    const bundled = await startChildCore({ MORTISE_DATA_DIR: tempDir('mortise-bundle-data-'), MORTISE_ADMIN_PASSWORD: adminPassword, MORTISE_LOG_LEVEL: 'warn', MORTISE_BUNDLED_REPOSITORY: 'off' });
    children.push(bundled);
    const unbundled = await startTestCore();
    inProcess.push(unbundled);
    const bundledToken = await login(bundled.url, 'admin', adminPassword);
    const writes: Array<[string, unknown]> = [
      ['/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'bad' }, data: { a: 1, b: [] } }],
      ['/apis/tenant.mortise.io/v1alpha1/workspaces', { ...workspace('bad-workspace'), spec: { displayName: 7, description: ['not a string'] } }],
      ['/apis/iam.mortise.io/v1alpha1/globalroles', { apiVersion: 'iam.mortise.io/v1alpha1', kind: 'GlobalRole', metadata: { name: 'bad' }, rules: [{ verbs: 'get' }] }],
    ];
    for (const [path, body] of writes) {
      const fromBundle = await call(bundled.url, bundledToken, path, { method: 'POST', json: body });
      const fromTsc = await unbundled.api(path, { method: 'POST', json: body });
      expect(fromBundle.status, path).toBe(422);
      expect(await fromBundle.json(), path).toEqual(await fromTsc.json());
    }
  });
});
