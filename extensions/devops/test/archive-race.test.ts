import * as fs from 'node:fs';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { CoreClient } from '@mortise/extension-sdk/backend';

// An `archive` step checks that its file is a regular file inside the workspace, then copies it.
// A step of a parallel branch runs meanwhile and may swap the checked path for a symlink to a
// file of the host (the backend's data directory, the core's database). The swap is made here
// exactly between the check and the read — whichever call reads it (copyFileSync, openSync,
// createReadStream).

let swap: (() => void) | undefined;
/** Swaps (once) just before the workspace's file is read: what a racing step does by chance. */
const swapFirst = (p: fs.PathLike) => {
  if (!String(p).includes('/workspace/')) return;
  const s = swap;
  swap = undefined;
  s?.();
};
vi.mock('node:fs', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs')>();
  const copyFileSync = ((src: fs.PathLike, ...rest: [fs.PathLike, number?]) => {
    swapFirst(src);
    return actual.copyFileSync(src, ...rest);
  }) as typeof actual.copyFileSync;
  const openSync = ((p: fs.PathLike, ...rest: [fs.OpenMode, (fs.Mode | null)?]) => {
    swapFirst(p);
    return actual.openSync(p, ...rest);
  }) as typeof actual.openSync;
  const createReadStream = ((p: fs.PathLike, ...rest: unknown[]) => {
    swapFirst(p);
    return (actual.createReadStream as (...a: unknown[]) => fs.ReadStream)(p, ...rest);
  }) as typeof actual.createReadStream;
  const fns = { copyFileSync, openSync, createReadStream };
  return { ...actual, ...fns, default: { ...actual, ...fns } };
});

const { RunExecutor } = await import('../src/run-executor.js');
const { RunLog } = await import('../src/run-log.js');

describe('an archive step against a path swapped for a symlink while it is copied', () => {
  let dir: string;
  let secret: string;
  const run = async (archive: string) => {
    const workspace = join(dir, 'run', 'workspace');
    const artifacts = join(dir, 'run', 'artifacts');
    mkdirSync(join(workspace, 'dir'), { recursive: true });
    writeFileSync(join(workspace, 'out.txt'), 'built\n');
    writeFileSync(join(workspace, 'dir', 'out.txt'), 'built\n');
    const log = new RunLog(join(dir, 'run', 'log.jsonl'), () => []);
    const ex = new RunExecutor(
      { metadata: { name: 'r', namespace: 'ci' }, spec: { pipeline: 'p' } },
      { stages: [{ name: 'package', steps: [{ archive }] }] },
      { workspace, artifacts }, log,
      { core: {} as CoreClient, confined: false, localGitRoots: [], checkoutAllowedHosts: [], maxLogBytesPerStep: 1 << 20, saveStatus: async () => undefined },
    );
    await ex.execute();
    const copied = readdirSync(artifacts).map((f) => readFileSync(join(artifacts, f), 'utf8'));
    return { ex, copied, workspace };
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'devops-archive-'));
    secret = join(dir, 'host-secret');
    writeFileSync(secret, 'the host file a step must never get\n');
  });
  afterEach(() => {
    swap = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('copies nothing of the host when the file itself becomes a symlink', async () => {
    swap = () => {
      const file = join(dir, 'run', 'workspace', 'out.txt');
      unlinkSync(file);
      symlinkSync(secret, file);
    };
    const { ex, copied } = await run('out.txt');
    expect(copied.join('')).not.toContain('the host file');
    expect(ex.status.phase).toBe('Failed');
    expect(ex.status.stages[0]!.branches[0]!.steps[0]!.message).toMatch(/not a regular file in the workspace/);
  });

  it('copies nothing of the host when a directory on its path becomes a symlink', async () => {
    const outside = join(dir, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'out.txt'), 'the host file a step must never get\n');
    swap = () => {
      const d = join(dir, 'run', 'workspace', 'dir');
      rmSync(d, { recursive: true });
      symlinkSync(outside, d);
    };
    const { ex, copied } = await run('dir/out.txt');
    expect(copied.join('')).not.toContain('the host file');
    expect(ex.status.phase).toBe('Failed');
  });

  it('still archives a regular file nobody swaps', async () => {
    const { ex, copied } = await run('dir/out.txt');
    expect(ex.status.phase, ex.status.message).toBe('Succeeded');
    expect(copied).toEqual(['built\n']);
    expect(ex.status.artifacts).toEqual([{ name: 'out.txt', size: 6 }]);
  });
});
