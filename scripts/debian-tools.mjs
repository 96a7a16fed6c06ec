// The real tools tests and benchmarks drive (kubectl, wrk, nginx, ...): what is missing is
// installed when we can (root with apt-get, as on CI), otherwise the message says how.
import { execFileSync, spawnSync } from 'node:child_process';

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const passes = (check) => spawnSync('sh', ['-c', check], { stdio: 'ignore' }).status === 0;
/** A tool is there when its command is (or, for what is not a command, its `check` passes). */
const present = (t) => (t.check ? passes(t.check) : has(t.cmd));

/** @param {{cmd: string, debian: string, why: string, check?: string}[]} tools */
export function ensureDebianTools(tools) {
  const isRoot = process.getuid?.() === 0;
  const absent = tools.filter((t) => !present(t));
  if (absent.length && isRoot && has('apt-get')) {
    const packages = [...new Set(absent.map((t) => t.debian))].join(' ');
    process.stdout.write(`installing ${packages} (${absent.map((t) => t.why).join('; ')})...\n`);
    try {
      execFileSync('sh', ['-c', `apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${packages} >/dev/null`], { stdio: 'inherit' });
    } catch {
      // reported below
    }
  }
  const missing = tools.filter((t) => !present(t));
  if (missing.length) {
    for (const t of missing) process.stderr.write(`missing ${t.cmd}: ${t.why}. Install it with: sudo apt-get install -y ${t.debian}\n`);
    process.exit(1);
  }
}
