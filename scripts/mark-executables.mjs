#!/usr/bin/env node
// tsc writes CLI entry points without the executable bit; npm links them as bins, so set it.
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const root = dirname(dirname(new URL(import.meta.url).pathname));
const { workspaces } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
for (const ws of workspaces.filter((w) => !w.includes('*'))) {
  const pkgFile = join(root, ws, 'package.json');
  if (!existsSync(pkgFile)) continue;
  const { bin } = JSON.parse(readFileSync(pkgFile, 'utf8'));
  for (const target of Object.values(typeof bin === 'string' ? { x: bin } : (bin ?? {}))) {
    const file = join(root, ws, target);
    if (existsSync(file)) chmodSync(file, 0o755);
  }
}
