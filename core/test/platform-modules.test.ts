import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { sdkPackageDir } from '../src/extensions/package-store.js';
import { platformModuleClosure } from '../src/extensions/platform-module-closure.js';
import { preparePlatformModules } from '../src/extensions/platform-modules.js';
import { fsAllowList, probeNodeFlags } from '../src/runtime/permissions.js';
import { startTestCore } from './support/test-core.js';

// The SDK and its dependencies the core copies beside unpacked extensions keep the layout Node
// resolved them in — in the monorepo, and when the SDK and the core were installed from packed
// tarballs into a project (node_modules/@mortise/extension-sdk), where two versions of one
// package (one hoisted, one nested) are common.

const roots: string[] = [];
afterAll(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

function write(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'mortise-platform-modules-'));
  roots.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const pkg = (name: string, version: string, dependencies: Record<string, string> = {}, more: object = {}) => JSON.stringify({ name, version, dependencies, ...more });
const versionAt = (dir: string) => (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;

/** An SDK needing koa-like `a` (which needs statuses-like `b` 2.x, nested) and `b` 1.x (hoisted). */
function layout(sdk: string, modules: string): Record<string, string> {
  return {
    [`${sdk}/package.json`]: pkg('@mortise/extension-sdk', '0.1.0', { a: '^1.0.0', b: '^1.0.0' }, { main: './dist/index.js' }),
    [`${sdk}/dist/index.js`]: "import 'a';\nexport * from 'b';\n",
    [`${modules}/a/package.json`]: pkg('a', '1.0.0', { b: '^2.0.0' }),
    [`${modules}/a/node_modules/b/package.json`]: pkg('b', '2.0.0'),
    [`${modules}/b/package.json`]: pkg('b', '1.0.0'),
  };
}

describe('preparePlatformModules', () => {
  it('keeps a nested dependency nested when the SDK is installed in a project\'s node_modules', async () => {
    const root = write(layout('project/node_modules/@mortise/extension-sdk', 'project/node_modules'));
    const target = await preparePlatformModules(join(root, 'project/node_modules/@mortise/extension-sdk'), join(root, 'unpacked'), join(root, 'cache'));
    expect(versionAt(join(target, '@mortise', 'extension-sdk'))).toBe('0.1.0');
    expect(versionAt(join(target, 'a'))).toBe('1.0.0');
    expect(versionAt(join(target, 'b'))).toBe('1.0.0');
    expect(versionAt(join(target, 'a', 'node_modules', 'b'))).toBe('2.0.0');
  });

  it('and in the monorepo, with the SDK beside the root node_modules', async () => {
    const root = write(layout('repo/extension-sdk', 'repo/node_modules'));
    const target = await preparePlatformModules(join(root, 'repo/extension-sdk'), join(root, 'unpacked'), join(root, 'cache'));
    expect(versionAt(join(target, 'b'))).toBe('1.0.0');
    expect(versionAt(join(target, 'a', 'node_modules', 'b'))).toBe('2.0.0');
  });

  it('stages once per fingerprint into the shared cache, and links it into each core\'s dir, however many stage at once', async () => {
    const root = write(layout('repo/extension-sdk', 'repo/node_modules'));
    const cache = join(root, 'cache');
    const sdk = join(root, 'repo/extension-sdk');
    const targets = await Promise.all([1, 2, 3].map((n) => preparePlatformModules(sdk, join(root, `unpacked-${n}`), cache)));
    // One entry, no staging dir left behind by the losers.
    expect(readdirSync(cache)).toHaveLength(1);
    const [entry] = readdirSync(cache);
    const cached = join(cache, entry!, 'node_modules', 'a', 'node_modules', 'b', 'package.json');
    for (const t of targets) {
      expect(versionAt(join(t, 'a', 'node_modules', 'b'))).toBe('2.0.0');
      // The same file, not a copy (and not a symlink, which would let `..` escape the permission model).
      expect(statSync(join(t, 'a', 'node_modules', 'b', 'package.json')).ino).toBe(statSync(cached).ino);
    }
    // Another SDK build is another entry; the first stays while it is recent.
    writeFileSync(join(sdk, 'dist', 'index.js'), "import 'a';\nimport 'b';\nexport const changed = 1;\n");
    const changed = await preparePlatformModules(sdk, join(root, 'unpacked-1'), cache);
    expect(readFileSync(join(changed, '@mortise', 'extension-sdk', 'dist', 'index.js'), 'utf8')).toContain('changed');
    expect(readdirSync(cache).sort()).toHaveLength(2);
  });
});

describe('what a backend gets', () => {
  it('the packages the SDK\'s backend entry points import statically, not those of excluded exports, lazy imports or declarations alone', async () => {
    const sdk = 'repo/extension-sdk';
    const modules = 'repo/node_modules';
    const root = write({
      [`${sdk}/package.json`]: pkg('@mortise/extension-sdk', '0.1.0', { a: '^1.0.0', bundler: '^1.0.0', lazy: '^1.0.0', '@types/thing': '^1.0.0' }, {
        exports: { '.': { types: './dist/index.d.ts', import: './dist/index.js' }, './build': './dist/build.js', './parts/*': './dist/parts/*.js', './package.json': './package.json' },
        mortise: { platformModules: { excludeExports: { './build': 'the frontend build' } } },
        bin: { tool: './bin/tool.js' },
      }),
      [`${sdk}/dist/index.js`]: "import { x } from './inner.js';\nexport const later = () => import('lazy');\nexport { x };\n",
      // The SDK naming itself: followed like a relative import.
      [`${sdk}/dist/inner.js`]: "import '@mortise/extension-sdk/package.json';\nexport * from 'a/sub';\nexport const x = 1;\n",
      [`${sdk}/dist/build.js`]: "import 'bundler';\n",
      // A subpath pattern: every file it names is an entry point.
      [`${sdk}/dist/parts/deep/one.js`]: "import 'd';\n",
      [`${modules}/d/package.json`]: pkg('d', '1.0.0'),
      [`${modules}/a/package.json`]: pkg('a', '1.0.0', { c: '^1.0.0' }),
      [`${modules}/c/package.json`]: pkg('c', '1.0.0'),
      [`${modules}/bundler/package.json`]: pkg('bundler', '1.0.0'),
      [`${modules}/lazy/package.json`]: pkg('lazy', '1.0.0'),
      [`${modules}/@types/thing/package.json`]: pkg('@types/thing', '1.0.0'),
    });
    const target = await preparePlatformModules(join(root, sdk), join(root, 'unpacked'), join(root, 'cache'));
    expect(readdirSync(target).filter((n) => !n.startsWith('.')).sort()).toEqual(['@mortise', 'a', 'c', 'd']);
    const staged = JSON.parse(readFileSync(join(target, '@mortise', 'extension-sdk', 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(Object.keys(staged.exports as object)).toEqual(['.', './parts/*', './package.json']);
    expect(staged.bin).toBeUndefined();
  });

  it('the real SDK: every backend entry point loads under the permission model, no build tool is there to load', async () => {
    const root = write({});
    const unpacked = join(root, 'unpacked');
    const started = performance.now();
    const target = await preparePlatformModules(sdkPackageDir(), unpacked, join(root, 'cache'));
    const stagedMs = performance.now() - started;
    const buildTools = ['typescript', 'webpack', 'esbuild', '@rspack/core', '@module-federation/enhanced', 'esbuild-loader', 'css-loader', 'style-loader', 'terser'];
    for (const tool of buildTools) expect(existsSync(join(target, ...tool.split('/'))), tool).toBe(false);

    const { entryPoints } = platformModuleClosure(sdkPackageDir());
    // What the SDK excludes names its exports (a renamed export would otherwise be staged unnoticed).
    const sdkJson = JSON.parse(readFileSync(join(sdkPackageDir(), 'package.json'), 'utf8')) as { exports: object; mortise: { platformModules: { excludeExports: object } } };
    for (const excluded of Object.keys(sdkJson.mortise.platformModules.excludeExports)) expect(Object.keys(sdkJson.exports), excluded).toContain(excluded);
    expect(entryPoints).toEqual(expect.arrayContaining(['.', './backend', './runtime', './manifest', './util']));
    const canLoad = entryPoints.filter((e) => e !== './package.json').map((e) => `@mortise/extension-sdk${e.slice(1)}`);
    const cannot = [...buildTools, '@mortise/extension-sdk/federation', '@mortise/extension-sdk/testing'];
    const packageDir = join(unpacked, 'probe');
    const dataDir = join(root, 'data');
    mkdirSync(dataDir);
    mkdirSync(packageDir);
    writeFileSync(join(packageDir, 'probe.mjs'), [
      'const results = {};',
      `for (const s of ${JSON.stringify([...canLoad, ...cannot])}) {`,
      '  try { const m = await import(s); results[s] = Object.keys(m).length > 0 ? "loaded" : "empty"; } catch (e) { results[s] = e.code ?? String(e); }',
      '}',
      "const { createExtensionBackend } = await import('@mortise/extension-sdk/backend');",
      'results.createExtensionBackend = typeof createExtensionBackend;',
      'process.stdout.write(JSON.stringify(results));',
    ].join('\n'));
    const flags = await probeNodeFlags(process.execPath);
    expect(flags.permission, 'this node has no permission model').toBeDefined();
    const allow = fsAllowList({ packageDir, dataDir, readOnlyPaths: [target] });
    const args = [flags.permission!, ...allow.read.map((p) => `--allow-fs-read=${p}`), ...allow.write.map((p) => `--allow-fs-write=${p}`)];
    if (flags.disableWarning) args.push('--disable-warning=ExperimentalWarning');
    const { stdout } = await promisify(execFile)(process.execPath, [...args, join(packageDir, 'probe.mjs')], { cwd: dataDir, env: { PATH: process.env.PATH ?? '' } });
    const results = JSON.parse(stdout) as Record<string, string>;
    for (const s of canLoad) expect(results[s], s).toBe('loaded');
    expect(results.createExtensionBackend).toBe('function');
    for (const s of cannot) expect(['ERR_MODULE_NOT_FOUND', 'ERR_PACKAGE_PATH_NOT_EXPORTED', 'ERR_ACCESS_DENIED'], `${s}: ${results[s]}`).toContain(results[s]);
    // Staged from scratch (no cache entry), as a core on a fresh machine does it.
    console.log(`platform modules staged in ${Math.round(stagedMs)} ms`);
  }, 60_000);
});

describe('the shared cache of platform modules', () => {
  it('removes entries unused for a week, beyond the four most recent once idle, and abandoned staging dirs', async () => {
    const root = write(layout('repo/extension-sdk', 'repo/node_modules'));
    const cache = join(root, 'cache');
    const entry = (name: string, ageMs: number) => {
      mkdirSync(join(cache, name, 'node_modules'), { recursive: true });
      const stamp = join(cache, name, '.mortise-platform-modules');
      writeFileSync(stamp, name);
      const when = new Date(Date.now() - ageMs);
      utimesSync(stamp, when, when);
    };
    const minute = 60_000;
    entry('week-old', 8 * 24 * 60 * minute);
    for (const [i, age] of [1, 2, 3, 30, 40].entries()) entry(`recent-${i}`, age * minute);
    mkdirSync(join(cache, '.staging-abandoned-1-aa'));
    utimesSync(join(cache, '.staging-abandoned-1-aa'), new Date(Date.now() - 2 * 60 * minute), new Date(Date.now() - 2 * 60 * minute));
    mkdirSync(join(cache, '.staging-in-progress-2-bb'));
    await preparePlatformModules(join(root, 'repo/extension-sdk'), join(root, 'unpacked'), cache);
    const left = readdirSync(cache).sort();
    // Kept: the one just used, the three most recent others, the other idle one beyond them goes;
    // so does the week-old one and the abandoned staging dir, not a staging dir in progress.
    expect(left.filter((n) => n.startsWith('recent-'))).toEqual(['recent-0', 'recent-1', 'recent-2']);
    expect(left).not.toContain('week-old');
    expect(left).toContain('.staging-in-progress-2-bb');
    expect(left).not.toContain('.staging-abandoned-1-aa');
    expect(left.filter((n) => !n.startsWith('recent-') && !n.startsWith('.'))).toHaveLength(1);
  });
});

describe('a core without a data dir', () => {
  it('removes its temp dir when it closes, the platform modules staged or not', async () => {
    const own = mkdtempSync(join(tmpdir(), 'mortise-own-tmp-'));
    roots.push(own);
    const before = process.env.TMPDIR;
    process.env.TMPDIR = own;
    try {
      const t = await startTestCore({ inMemory: true });
      expect(readdirSync(own).some((n) => n.startsWith('mortise-extensions-'))).toBe(true);
      await t.close();
    } finally {
      if (before === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = before;
    }
    expect(readdirSync(own)).toEqual([]);
    expect(existsSync(own)).toBe(true);
  });
});
