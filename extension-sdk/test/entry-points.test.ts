import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The SDK's subpath entry points (README "Entry points"): each is the root's own values, the root
// still has them all, and what a backend or the core imports does not reach the CLI or packing
// code. Checked on the built package, as Node resolves it through `exports`.

const sdkDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const exportsMap = (JSON.parse(readFileSync(join(sdkDir, 'package.json'), 'utf8')) as { exports: Record<string, string | { import: string }> }).exports;
const serverSubpaths = ['backend', 'runtime', 'manifest', 'package', 'repository', 'util', 'cli'];

/** The SDK files a built file reaches through static imports, and the packages it names. */
function importGraph(entry: string): { files: string[]; packages: Set<string> } {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    for (const m of source.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g)) {
      const spec = (m[1] ?? m[2])!;
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec));
      else if (!spec.startsWith('node:')) packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
    }
  };
  visit(entry);
  return { files: [...seen].map((f) => relative(join(sdkDir, 'dist'), f)), packages };
}

const entryFile = (subpath: string) => {
  const target = exportsMap[`./${subpath}`];
  if (!target || typeof target === 'string') throw new Error(`no ./${subpath} in exports`);
  return join(sdkDir, target.import);
};

describe('entry points', () => {
  it('each subpath exports the root\'s own values, and together they are the whole root', async () => {
    const root = (await import('@mortise/extension-sdk')) as Record<string, unknown>;
    const covered = new Set<string>();
    for (const subpath of serverSubpaths) {
      const mod = (await import(/* @vite-ignore */ `@mortise/extension-sdk/${subpath}`)) as Record<string, unknown>;
      expect(Object.keys(mod).length, subpath).toBeGreaterThan(0);
      for (const [name, value] of Object.entries(mod)) {
        expect(root[name], `${subpath}: ${name}`).toBe(value);
        covered.add(name);
      }
    }
    expect(Object.keys(root).filter((name) => !covered.has(name))).toEqual([]);
  });

  it('a backend\'s entry point reaches no CLI, packing or repository code', () => {
    const { files, packages } = importGraph(entryFile('backend'));
    expect(files).toContain('backend/create-backend.js');
    expect(files.filter((f) => /^(cli|package|repository|federation|testing)\//.test(f))).toEqual([]);
    expect(packages.has('koa')).toBe(true);
    for (const heavy of ['commander', 'tar', 'semver', 'webpack', '@module-federation/enhanced']) expect(packages.has(heavy), heavy).toBe(false);
  });

  it('the runtime contract is one file and the manifest constants', () => {
    const { files, packages } = importGraph(entryFile('runtime'));
    expect(files.sort()).toEqual(['backend/runtime-env.js', 'manifest/types.js']);
    expect([...packages]).toEqual([]);
  });

  it('the root still loads the CLI', () => {
    expect(importGraph(join(sdkDir, 'dist/index.js')).packages.has('commander')).toBe(true);
  });
});
