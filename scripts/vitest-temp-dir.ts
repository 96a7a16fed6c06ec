import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Every test removes what it makes. The run gets a temp dir of its own (TMPDIR, inherited by the
// test workers and every child process they start), so what is left in it at the end was left
// by this run — never by another process sharing /tmp — and the run fails naming it. The dir is
// removed either way, so a failed run leaks nothing either.

/** Left by programs we do not control, removed by them only when they exit (Chromium's profile dirs, ...). */
const foreign = [/^\.?org\.chromium\.Chromium\./, /^\.?com\.google\.Chrome\./];

export default function setup(): () => void {
  const before = { TMPDIR: process.env.TMPDIR, TMP: process.env.TMP, TEMP: process.env.TEMP };
  const runDir = mkdtempSync(join(tmpdir(), 'mortise-vitest-'));
  process.env.TMPDIR = process.env.TMP = process.env.TEMP = runDir;
  return () => {
    for (const [k, v] of Object.entries(before)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    const left = readdirSync(runDir).filter((n) => !foreign.some((f) => f.test(n)));
    const described = left.map((n) => `${n} (${sizeOf(join(runDir, n))} bytes)`);
    rmSync(runDir, { recursive: true, force: true });
    if (left.length > 0) {
      // Vitest reports an error thrown here but still exits 0: the exit code is set as well.
      process.exitCode = 1;
      throw new Error(`tests left ${left.length} entries in their temp dir (each test must remove what it makes): ${described.join(', ')}`);
    }
  };
}

function sizeOf(path: string): number {
  try {
    const st = statSync(path);
    if (!st.isDirectory()) return st.size;
    return readdirSync(path).reduce((sum, n) => sum + sizeOf(join(path, n)), 0);
  } catch {
    return 0;
  }
}
