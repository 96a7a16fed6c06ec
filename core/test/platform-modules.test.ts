import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { preparePlatformModules } from '../src/extensions/platform-modules.js';

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

const pkg = (name: string, version: string, dependencies: Record<string, string> = {}) => JSON.stringify({ name, version, dependencies });
const versionAt = (dir: string) => (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;

/** An SDK needing koa-like `a` (which needs statuses-like `b` 2.x, nested) and `b` 1.x (hoisted). */
function layout(sdk: string, modules: string): Record<string, string> {
  return {
    [`${sdk}/package.json`]: pkg('@mortise/extension-sdk', '0.1.0', { a: '^1.0.0', b: '^1.0.0' }),
    [`${sdk}/dist/index.js`]: 'export {};\n',
    [`${modules}/a/package.json`]: pkg('a', '1.0.0', { b: '^2.0.0' }),
    [`${modules}/a/node_modules/b/package.json`]: pkg('b', '2.0.0'),
    [`${modules}/b/package.json`]: pkg('b', '1.0.0'),
  };
}

describe('preparePlatformModules', () => {
  it('keeps a nested dependency nested when the SDK is installed in a project\'s node_modules', async () => {
    const root = write(layout('project/node_modules/@mortise/extension-sdk', 'project/node_modules'));
    const target = await preparePlatformModules(join(root, 'project/node_modules/@mortise/extension-sdk'), join(root, 'unpacked'));
    expect(versionAt(join(target, '@mortise', 'extension-sdk'))).toBe('0.1.0');
    expect(versionAt(join(target, 'a'))).toBe('1.0.0');
    expect(versionAt(join(target, 'b'))).toBe('1.0.0');
    expect(versionAt(join(target, 'a', 'node_modules', 'b'))).toBe('2.0.0');
  });

  it('and in the monorepo, with the SDK beside the root node_modules', async () => {
    const root = write(layout('repo/extension-sdk', 'repo/node_modules'));
    const target = await preparePlatformModules(join(root, 'repo/extension-sdk'), join(root, 'unpacked'));
    expect(versionAt(join(target, 'b'))).toBe('1.0.0');
    expect(versionAt(join(target, 'a', 'node_modules', 'b'))).toBe('2.0.0');
  });
});
