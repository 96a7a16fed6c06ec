#!/usr/bin/env node
// The core's server as one bundle (core/dist/bundle/): `npm start`, the bench and the worker
// processes run it. Node then reads a few files instead of resolving and compiling ~280 ES modules
// and ~390 CommonJS files, which was most of a start's CPU. Built from tsc's output (core/dist and
// the SDK's dist), so the modules the tests import and the bundle are the same code. What the core
// loads lazily (`import()`: the kubernetes mode, undici) stays in chunks of its own. The built-in
// kinds' JSON Schema validators are compiled here (ajv's standalone code) instead of at every start.
//
//   node core/scripts/bundle.mjs            builds it (`npm run build` does)
//   node core/scripts/bundle.mjs --if-stale builds it only when tsc's output is newer (the tests)
import { build } from 'esbuild';
import { _ } from 'ajv';
import standaloneCode from 'ajv/dist/standalone/index.js';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const core = join(dirname(fileURLToPath(import.meta.url)), '..');
export const bundleDir = join(core, 'dist', 'bundle');
export const bundledMain = join(bundleDir, 'main.js');

const coreModule = (path) => import(pathToFileURL(join(core, 'dist', path)).href);

/**
 * The module that takes precompiled-validators.js's place: every built-in kind's validator as
 * ajv's standalone code, compiled with the options `createAjv` gives at run time, named by
 * `precompiledName`. A kind missing here is compiled at its first use, as without the bundle.
 */
async function precompiledValidatorsModule() {
  const { createAjv, precompiledName, withoutMetadata } = await coreModule('registry/schema-validator.js');
  const { builtinKinds } = await coreModule('schemas/builtin-kinds.js');
  const ajv = createAjv({ source: true, esm: true, formats: _`require("ajv-formats/dist/formats").fullFormats` });
  const names = {};
  for (const { schema } of builtinKinds()) {
    const name = precompiledName(schema);
    if (names[name]) continue;
    ajv.addSchema(withoutMetadata(schema), name);
    names[name] = name;
  }
  return `${standaloneCode(ajv, names)}\nexport const precompiledValidators = { ${Object.keys(names).join(', ')} };\n`;
}

export async function bundleCore() {
  rmSync(bundleDir, { recursive: true, force: true });
  const validators = await precompiledValidatorsModule();
  await build({
    // worker-main beside main: the primary forks it as `new URL('./worker-main.js', import.meta.url)`.
    // main is start.ts: it begins what a first start can before main.ts's chunk is loaded.
    entryPoints: { main: join(core, 'dist', 'start.js'), 'worker-main': join(core, 'dist', 'cluster', 'worker-main.js') },
    outdir: bundleDir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // Chunks beside the entries, so every chunk's import.meta.url names the same directory.
    chunkNames: '[name]-[hash]',
    // A native addon, found by a file lookup at run time.
    external: ['better-sqlite3'],
    // The CommonJS dependencies require() Node's built-ins; an ES module has no require of its own.
    banner: { js: "import { createRequire as __mortiseCreateRequire } from 'node:module'; const require = __mortiseCreateRequire(import.meta.url);" },
    sourcemap: 'linked',
    legalComments: 'none',
    logLevel: 'warning',
    plugins: [{
      name: 'precompiled-validators',
      setup(b) {
        b.onResolve({ filter: /\/precompiled-validators\.js$/ }, () => ({ path: 'precompiled-validators.js', namespace: 'mortise' }));
        b.onLoad({ filter: /.*/, namespace: 'mortise' }, () => ({ contents: validators, loader: 'js', resolveDir: core }));
      },
    }],
  });
}

/** The newest modification time of the .js files under dir (0 when there is none). */
function newestJs(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.js')) continue;
    const path = join(entry.parentPath ?? entry.path, entry.name);
    if (!path.startsWith(bundleDir)) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** Whether tsc wrote the core or the SDK after the bundle was built. */
export function bundleIsStale() {
  if (!existsSync(bundledMain)) return true;
  const built = statSync(bundledMain).mtimeMs;
  return [join(core, 'dist'), join(core, '..', 'extension-sdk', 'dist')].some((dir) => newestJs(dir) > built);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (!process.argv.includes('--if-stale') || bundleIsStale()) await bundleCore();
}
