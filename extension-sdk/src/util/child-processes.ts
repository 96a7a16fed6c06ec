import { readdirSync, readFileSync } from 'node:fs';

/** The processes whose parent is `pid` (an nginx master's workers, say), from /proc; [] when `pid` is gone. */
export function childPids(pid: number): number[] {
  try {
    // One read where the kernel keeps the list (CONFIG_PROC_CHILDREN) ...
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    // ... else every process's parent (none known where /proc may not be listed: a backend run under
    // Node's permission model may read its children's files but not the directory).
    const out: number[] = [];
    let entries: string[];
    try {
      entries = readdirSync('/proc');
    } catch {
      return out;
    }
    for (const entry of entries) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (Number(readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]) === pid) out.push(Number(entry));
      } catch {
        // gone meanwhile
      }
    }
    return out;
  }
}

function comm(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * Whether `pid` is still an nginx worker of `master` — under it, or orphaned by it (its parent no longer
 * nginx): a pid remembered a moment ago may since belong to someone else, another nginx's included.
 */
export function isWorkerOf(pid: number, master: number): boolean {
  if (comm(pid) !== 'nginx') return false;
  let ppid: number;
  try {
    ppid = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
  } catch {
    return false;
  }
  return ppid === master || comm(ppid) !== 'nginx';
}
