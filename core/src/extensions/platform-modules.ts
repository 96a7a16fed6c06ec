import { createHash } from 'node:crypto';
import { cp } from 'node:fs/promises';
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { dependencyClosure } from '../runtime/permissions.js';

/**
 * The modules the platform provides to extension backends — the SDK and its dependencies —
 * copied (real files, never links) into `<unpackedRoot>/node_modules`, where Node's resolver
 * finds them from every unpacked package below. Copies rather than symlinks because a directory
 * symlink inside a readable directory lets `..` escape Node's permission model.
 */
export async function preparePlatformModules(sdkDir: string, unpackedRoot: string): Promise<string> {
  const target = join(unpackedRoot, 'node_modules');
  const closure = [...dependencyClosure(sdkDir)].filter((d) => d !== sdkDir);
  const fingerprint = createHash('sha256').update(JSON.stringify({
    sdk: fileStamps(join(sdkDir, 'dist')), pkg: readFileSync(join(sdkDir, 'package.json'), 'utf8'),
    deps: closure.map((d) => `${d}@${versionOf(d)}`),
  })).digest('hex');
  const stampFile = join(target, '.mortise-platform-modules');
  if (existsSync(stampFile) && readFileSync(stampFile, 'utf8') === fingerprint) return target;

  mkdirSync(unpackedRoot, { recursive: true });
  const staging = `${target}.staging-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  const sdkTarget = join(staging, '@mortise', 'extension-sdk');
  mkdirSync(sdkTarget, { recursive: true });
  cpSync(join(sdkDir, 'package.json'), join(sdkTarget, 'package.json'));
  await cp(join(sdkDir, 'dist'), join(sdkTarget, 'dist'), { recursive: true, dereference: true, filter: (src) => !src.endsWith('.tsbuildinfo') });
  const roots = moduleRoots(sdkDir);
  for (const dir of closure) {
    // Keep the layout Node resolved them in: `node_modules/a/node_modules/b` stays nested,
    // relative to the nearest node_modules above the SDK that holds it (the monorepo's root, or
    // the project's when the SDK and the core were installed from packed tarballs).
    const root = roots.find((r) => dir.startsWith(r + sep));
    if (!root) continue;
    const rel = relative(root, dir);
    const dest = join(staging, rel);
    mkdirSync(dirname(dest), { recursive: true });
    await cp(dir, dest, { recursive: true, dereference: true, filter: (src) => src === dir || !relative(dir, src).split(sep).includes('node_modules') });
  }
  writeFileSync(join(staging, '.mortise-platform-modules'), fingerprint);
  rmSync(target, { recursive: true, force: true });
  renameSync(staging, target);
  return target;
}

/** The node_modules directories Node searches from the SDK's directory, nearest first. */
function moduleRoots(sdkDir: string): string[] {
  const roots: string[] = [];
  for (let d = sdkDir; ; d = dirname(d)) {
    if (!d.endsWith(`${sep}node_modules`)) roots.push(join(d, 'node_modules'));
    if (dirname(d) === d) return roots;
  }
}

function versionOf(dir: string): string {
  try {
    return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version?: string }).version ?? '';
  } catch {
    return '';
  }
}

function fileStamps(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(`${relative(dir, p)}:${statSync(p).size}:${statSync(p).mtimeMs}`);
    }
  };
  if (existsSync(dir)) walk(dir);
  return out.sort();
}
