import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../src/store/sqlite-store.js';
import { fallbackCheckpointPages, WalCheckpointer } from '../src/store/wal-checkpointer.js';

// The WAL's checkpoints on their own thread: a real SQLite file, a real worker thread.

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const widgets = { group: 'test.mortise.io', resource: 'widgets' };
const filler = 'x'.repeat(3000);

/** ~1,500 pages of WAL, more than SQLite's default checkpoint mark (1,000 pages). */
async function writeMany(store: SqliteStore, from: number) {
  for (let b = 0; b < 25; b++) {
    await Promise.all(Array.from({ length: 40 }, (_, i) => store.create(widgets, {
      apiVersion: 'test.mortise.io/v1', kind: 'Widget', metadata: { name: `w-${from + b * 40 + i}`, uid: `u-${from + b * 40 + i}` }, spec: { filler },
    })));
  }
}

async function until(check: () => boolean, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

describe('WalCheckpointer', () => {
  it('copies committed pages into the database file from its own thread; the writers no longer do it in their commits', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mortise-wal-'));
    dirs.push(dir);
    const path = join(dir, 'mortise.db');
    const store = new SqliteStore({ path });
    store.setAutoCheckpoint(fallbackCheckpointPages);
    const fileBytes = () => statSync(path).size;
    const before = fileBytes();
    await writeMany(store, 0);
    // With the writer's checkpoint raised, 1,000 creates of 3 KB stay in the WAL...
    expect(fileBytes() - before).toBeLessThan(1_000_000);
    const checkpointer = new WalCheckpointer(path, { intervalMs: 20 });
    // ...until the checkpointer's thread copies them into the file.
    expect(await until(() => fileBytes() - before > 3_000_000)).toBe(true);
    // Writes go on meanwhile and later pages are checkpointed too.
    const afterFirst = fileBytes();
    await writeMany(store, 1000);
    expect(await until(() => fileBytes() - afterFirst > 3_000_000)).toBe(true);
    await checkpointer.close();
    await store.close();
    const reopened = new SqliteStore({ path });
    expect((await reopened.list(widgets)).items).toHaveLength(2000);
    expect(await reopened.currentResourceVersion()).toBe('2000');
    await reopened.close();
  });

  it('closes while a writer keeps writing, and a file it never saw written closes cleanly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mortise-wal-'));
    dirs.push(dir);
    const path = join(dir, 'mortise.db');
    const store = new SqliteStore({ path });
    const checkpointer = new WalCheckpointer(path, { intervalMs: 5 });
    const writing = writeMany(store, 0);
    await checkpointer.close();
    await checkpointer.close();
    await writing;
    await store.close();
    // The last connection closed checkpointed everything: no WAL is left beside the file.
    expect(() => statSync(`${path}-wal`)).toThrow();
  });

  it('keeps a process that awaits close() alive until the thread has exited (the core closes its store after it)', async () => {
    // A process of its own, on the built modules: in this test runner the event loop never runs dry.
    const dir = mkdtempSync(join(tmpdir(), 'mortise-wal-'));
    dirs.push(dir);
    const dist = (f: string) => pathToFileURL(join(import.meta.dirname, '..', 'dist', 'store', f)).href;
    const script = `
      const { SqliteStore } = await import(${JSON.stringify(dist('sqlite-store.js'))});
      const { WalCheckpointer } = await import(${JSON.stringify(dist('wal-checkpointer.js'))});
      const path = ${JSON.stringify(join(dir, 'mortise.db'))};
      const store = new SqliteStore({ path });
      const checkpointer = new WalCheckpointer(path);
      await store.create({ group: 'g', resource: 'r' }, { apiVersion: 'g/v1', kind: 'R', metadata: { name: 'a', uid: 'u' } });
      await checkpointer.close();
      await store.close();
      console.log('closed after the checkpointer');
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script]);
    expect(stdout).toContain('closed after the checkpointer');
  });
});
