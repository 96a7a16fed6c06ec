import { execFileSync } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { wrk } from './wrk.js';

// Instructions a server process runs per request, counted by valgrind's callgrind: the same
// figure whatever else the machine is doing, where req/s and CPU time on a shared two-core VM
// swing by 30 %. User space only (the kernel's part, the sockets, is not in it), and one process:
// nginx runs with `master_process off` under it. For comparing configurations of one server, not
// for absolute speed.

/** valgrind's arguments to run a program under callgrind, its dumps in `dir`. */
export function callgrindArgs(dir: string): string[] {
  // LuaJIT patches the machine code it made (trace exits): valgrind must notice code that changes.
  return ['--tool=callgrind', '--smc-check=all', `--callgrind-out-file=${join(dir, 'callgrind.%p')}`];
}

/** Instructions per request of `pid` (a process under callgrind) serving `url`: 2 s of warm-up, then `seconds` counted. */
export async function instructionsPerRequest(pid: number, dir: string, url: string, headers?: Record<string, string>, seconds = 3, name = basename(dir)): Promise<number> {
  await wrk({ url, headers, connections: 1, durationSec: 2 });
  execFileSync('callgrind_control', ['-z', String(pid)], { stdio: 'ignore' });
  const counted = await wrk({ url, headers, connections: 1, durationSec: seconds });
  const before = new Set(readdirSync(dir));
  execFileSync('callgrind_control', ['-d', String(pid)], { stdio: 'ignore' });
  for (let i = 0; i < 400; i++) {
    const dump = readdirSync(dir).find((f) => f.startsWith(`callgrind.${pid}.`) && !before.has(f));
    const summary = dump && /^summary: (\d+)/m.exec(readFileSync(join(dir, dump), 'utf8'));
    if (summary) {
      // INSTRUCTIONS_KEEP=<dir>: the dump is kept there, for callgrind_annotate.
      if (process.env.INSTRUCTIONS_KEEP) copyFileSync(join(dir, dump), join(process.env.INSTRUCTIONS_KEEP, `${name.replace(/[^A-Za-z0-9+.-]/g, '_')}.callgrind`));
      return Number(summary[1]) / counted.requests;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`callgrind wrote no dump for ${pid} in ${dir}`);
}
