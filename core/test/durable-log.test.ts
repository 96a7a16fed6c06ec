import { appendFileSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DurableLog } from '../src/ops/durable-log.js';

// The size-capped, numbered log files behind the core's own log and each backend's: rotation
// within the cap, numbering across reopen (a core restart), a line cut by a crash, readers
// resuming after a number and told how many lines rotated away, the in-memory form.

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'mortise-durable-log-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const line = (i: number) => `line ${i} ${'x'.repeat(60)}`;

describe('DurableLog', () => {
  it('keeps the newest lines in segment files within its cap, numbered without gaps', async () => {
    const dir = tempDir();
    const log = new DurableLog(16 * 1024, dir);
    for (let i = 1; i <= 1000; i++) log.append({ line: line(i) });
    const files = readdirSync(dir);
    const bytes = files.reduce((n, f) => n + statSync(join(dir, f)).size, 0);
    expect(bytes).toBeLessThanOrEqual(16 * 1024);
    expect(bytes).toBeGreaterThan(8 * 1024);
    expect(files.length).toBeGreaterThan(1);
    const { lines, dropped } = await log.read();
    expect(dropped).toBe(0);
    expect(lines.at(-1)).toMatchObject({ seq: 1000, line: line(1000) });
    expect(lines.map((l) => l.seq)).toEqual(Array.from({ length: lines.length }, (_, i) => 1000 - lines.length + 1 + i));
    expect((await log.read({ tail: 3 })).lines.map((l) => l.seq)).toEqual([998, 999, 1000]);
    expect((await log.read({ tail: 0 })).lines).toEqual([]);
    log.close();
  });

  it('numbers on after a reopen, drops a line cut by a crash, and tells a reader what rotated away', async () => {
    const dir = tempDir();
    const first = new DurableLog(16 * 1024, dir);
    for (let i = 1; i <= 50; i++) first.append({ line: line(i) });
    first.close();
    // A crash in the middle of a write leaves half a line.
    const newest = readdirSync(dir).sort().at(-1)!;
    appendFileSync(join(dir, newest), '{"seq":51,"time":"2026-');

    const again = new DurableLog(16 * 1024, dir);
    expect(again.last).toBe(50);
    expect(again.append({ line: 'after the restart' }).seq).toBe(51);
    expect((await again.read({ afterSeq: 49 })).lines.map((l) => [l.seq, l.line])).toEqual([[50, line(50)], [51, 'after the restart']]);
    expect(await again.read({ afterSeq: 51 })).toEqual({ lines: [], dropped: 0 });

    // A reader at 40 comes back after 1000 more lines: what it missed beyond the cap is counted.
    for (let i = 52; i <= 1051; i++) again.append({ line: line(i) });
    const { lines, dropped } = await again.read({ afterSeq: 40 });
    expect(lines.at(-1)!.seq).toBe(1051);
    expect(dropped).toBe(lines[0]!.seq - 41);
    expect(dropped + lines.length).toBe(1051 - 40);
    again.close();
  });

  it('kept in memory, obeys the same cap, and moves to files numbered after what they hold', async () => {
    const dir = tempDir();
    const disk = new DurableLog(16 * 1024, dir);
    for (let i = 1; i <= 5; i++) disk.append({ line: `earlier ${i}` });
    disk.close();

    const log = new DurableLog(8192);
    const seen: number[] = [];
    log.on('line', (l) => seen.push(l.seq));
    for (let i = 1; i <= 500; i++) log.append({ line: line(i) });
    const kept = (await log.read()).lines;
    expect(kept.length).toBeLessThan(500);
    expect(kept.reduce((n, l) => n + JSON.stringify(l).length + 1, 0)).toBeLessThanOrEqual(8192);
    expect(seen).toHaveLength(500);

    log.persistTo(dir, 16 * 1024);
    const all = (await log.read()).lines;
    expect(all.slice(0, 5).map((l) => l.line)).toEqual(['earlier 1', 'earlier 2', 'earlier 3', 'earlier 4', 'earlier 5']);
    expect(all.slice(5).map((l) => l.line)).toEqual(kept.map((l) => l.line));
    expect(all.map((l) => l.seq)).toEqual(Array.from({ length: all.length }, (_, i) => i + 1));
    log.close();
    // Closed: nothing more is kept.
    log.append({ line: 'after close' });
    expect((await new DurableLog(16 * 1024, dir).read({ tail: 1 })).lines[0]!.line).toBe(kept.at(-1)!.line);
  });
});
