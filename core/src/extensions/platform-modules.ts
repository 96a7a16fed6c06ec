import { createHash, randomBytes } from 'node:crypto';
import { cp, copyFile, link, mkdir, readdir } from 'node:fs/promises';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { platformModuleClosure } from './platform-module-closure.js';

const stampName = '.mortise-platform-modules';
/** Cache entries unused for this long are removed when another is staged or used. */
const staleAfterMs = 7 * 24 * 3600_000;
/** At most this many entries are kept (most recently used first); older ones go once idle a while. */
const keepEntries = 4;
const idleBeforeEvictMs = 10 * 60_000;

/**
 * Where the staged platform modules are shared between cores on this machine: `$MORTISE_CACHE_DIR`,
 * else `$XDG_CACHE_HOME/mortise`, else `~/.cache/mortise`; `platform-modules/<fingerprint>` below it.
 */
export function platformModulesCache(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.MORTISE_CACHE_DIR || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'mortise');
  return join(base, 'platform-modules');
}

/**
 * The modules the platform provides to extension backends — the SDK's backend entry points and the
 * packages they import (platform-module-closure.ts), not the build tools its CLI runs — made
 * visible as `<unpackedRoot>/node_modules`, where Node's resolver finds them from every unpacked
 * package below.
 *
 * They are copied once per fingerprint (SDK contents, dependency versions and layout) into a
 * cache shared by every core of this user (`cacheRoot`), then *hard-linked* into
 * `<unpackedRoot>/node_modules`: ~1,800 links instead of ~14 MB copied on each start of a core
 * without a data dir. Real files, never symlinks: a directory symlink lets `..` reach past Node's
 * permission model (runtime/permissions.ts), a hard link is just another name of the same file.
 * When the cache is on another filesystem, the files are copied (the old cost, once per data dir).
 */
export async function preparePlatformModules(sdkDir: string, unpackedRoot: string, cacheRoot = platformModulesCache(), signal?: AbortSignal): Promise<string> {
  const target = join(unpackedRoot, 'node_modules');
  const { packages: closure, packageJson } = platformModuleClosure(sdkDir);
  const roots = moduleRoots(sdkDir);
  // Each dependency at the place Node resolved it, relative to the nearest node_modules above
  // the SDK that holds it (the monorepo's root, or the project's when the SDK and the core were
  // installed from packed tarballs): `a/node_modules/b` stays nested.
  const placed = closure.flatMap((dir) => {
    const root = roots.find((r) => dir.startsWith(r + sep));
    return root ? [{ dir, rel: relative(root, dir) }] : [];
  });
  // Contents and versions, never paths: two clones with the same SDK share one cache entry.
  const fingerprint = createHash('sha256').update(JSON.stringify({
    sdk: fileDigests(join(sdkDir, 'dist')), pkg: readFileSync(join(sdkDir, 'package.json'), 'utf8'),
    deps: placed.map((p) => `${p.rel.split(sep).join('/')}@${versionOf(p.dir)}`).sort(),
  })).digest('hex');
  const stampFile = join(target, stampName);
  if (existsSync(stampFile) && readFileSync(stampFile, 'utf8') === fingerprint) return target;

  const stage = async (dest: string) => {
    const sdkTarget = join(dest, '@mortise', 'extension-sdk');
    mkdirSync(sdkTarget, { recursive: true });
    writeFileSync(join(sdkTarget, 'package.json'), `${JSON.stringify(packageJson, null, 2)}\n`);
    await cp(join(sdkDir, 'dist'), join(sdkTarget, 'dist'), { recursive: true, dereference: true, filter: (src) => !src.endsWith('.tsbuildinfo') });
    for (const { dir, rel } of placed) {
      signal?.throwIfAborted();
      const to = join(dest, rel);
      mkdirSync(dirname(to), { recursive: true });
      await cp(dir, to, { recursive: true, dereference: true, filter: (src) => src === dir || !relative(dir, src).split(sep).includes('node_modules') });
    }
  };

  mkdirSync(unpackedRoot, { recursive: true });
  const staging = `${target}.staging-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  try {
    await linkTree(await sharedEntry(cacheRoot, fingerprint, stage), staging, signal);
  } catch (e) {
    rmSync(staging, { recursive: true, force: true });
    // Stopped (the core closes): nothing left behind.
    if (signal?.aborted) throw e;
    // No usable cache (unwritable home, or an entry evicted while linking): a private copy.
    try {
      await stage(staging);
    } catch (e2) {
      rmSync(staging, { recursive: true, force: true });
      throw e2;
    }
  }
  writeFileSync(join(staging, stampName), fingerprint);
  rmSync(target, { recursive: true, force: true });
  renameSync(staging, target);
  return target;
}

/**
 * `<cacheRoot>/<fingerprint>/node_modules`, staged if missing. Several processes may stage at
 * once: each in its own directory, renamed into place; a loser drops its copy and uses the
 * winner's (a rename onto a non-empty directory fails).
 */
async function sharedEntry(cacheRoot: string, fingerprint: string, stage: (dest: string) => Promise<void>): Promise<string> {
  const entry = join(cacheRoot, fingerprint);
  const modules = join(entry, 'node_modules');
  const stamp = join(entry, stampName);
  if (!existsSync(stamp)) {
    mkdirSync(cacheRoot, { recursive: true });
    const staging = join(cacheRoot, `.staging-${fingerprint.slice(0, 12)}-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      await stage(join(staging, 'node_modules'));
      writeFileSync(join(staging, stampName), fingerprint);
      try {
        renameSync(staging, entry);
      } catch (e) {
        if (!existsSync(stamp)) throw e;
      }
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }
  const now = new Date();
  utimesSync(stamp, now, now); // last use, for eviction
  evict(cacheRoot, fingerprint);
  return modules;
}

/** Removes cache entries nobody used for a week, those beyond the most recent few, and abandoned staging dirs. */
function evict(cacheRoot: string, keep: string): void {
  const now = Date.now();
  const entries = readdirSync(cacheRoot, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => {
    const path = join(cacheRoot, e.name);
    let used = 0;
    try {
      used = statSync(e.name.startsWith('.staging-') ? path : join(path, stampName)).mtimeMs;
    } catch {
      // an entry without its stamp is incomplete: removable once idle
    }
    return { name: e.name, path, used };
  }).sort((a, b) => b.used - a.used);
  let kept = 0;
  for (const e of entries) {
    if (e.name === keep) continue;
    const idle = now - e.used;
    const staging = e.name.startsWith('.staging-');
    const evictable = staging ? idle > 3600_000 : idle > staleAfterMs || (++kept >= keepEntries && idle > idleBeforeEvictMs);
    if (evictable) rmSync(e.path, { recursive: true, force: true });
  }
}

/** Recreates `from`'s tree at `to` with hard links to its files (copies on another filesystem). */
async function linkTree(from: string, to: string, signal?: AbortSignal): Promise<void> {
  let linking = true;
  const files: Array<[string, string]> = [];
  const walk = async (src: string, dest: string) => {
    signal?.throwIfAborted();
    await mkdir(dest, { recursive: true });
    for (const e of await readdir(src, { withFileTypes: true })) {
      const s = join(src, e.name);
      const d = join(dest, e.name);
      if (e.isDirectory()) await walk(s, d);
      else if (e.isFile()) files.push([s, d]);
    }
  };
  await walk(from, to);
  // A few at a time: the thread pool does the work, the event loop stays free for requests.
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      signal?.throwIfAborted();
      const [s, d] = files[next++]!;
      if (linking) {
        try {
          await link(s, d);
          continue;
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK') throw e;
          linking = false;
        }
      }
      await copyFile(s, d);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
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

/** Path and content digest of every file below `dir` (the SDK's dist: ~1.5 MB, a few ms). */
function fileDigests(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && !e.name.endsWith('.tsbuildinfo')) {
        out.push(`${relative(dir, p).split(sep).join('/')}:${createHash('sha256').update(readFileSync(p)).digest('hex')}`);
      }
    }
  };
  if (existsSync(dir)) walk(dir);
  return out.sort();
}
