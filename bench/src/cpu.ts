import { readdirSync, readFileSync } from 'node:fs';
import type { LoadResult } from './load.js';

// CPU a server process spent per request: utime + stime from /proc/<pid>/stat around a load run.
// On a shared machine it stays comparable where req/s and latency swing with others' load.

/** A load result and the CPU the measured server spent per request (µs), when its pid is known. */
export interface Measured extends LoadResult {
  cpuUsPerRequest?: number;
  /** What the backend behind the measured server spent per request, µs (when measured). */
  backendCpuUsPerRequest?: number;
}

/** utime + stime of a process, in clock ticks (100 a second on Linux). */
export function cpuTicks(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

/** A process and its children (a server that forks workers), from /proc. */
export function withChildren(pid: number | undefined): number[] {
  if (!pid) return [];
  const out = [pid];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** utime + stime of all of `pids` (undefined when one is gone or none given). */
export function ticksOf(pids: number[]): number | undefined {
  let sum = 0;
  for (const p of pids) {
    const t = cpuTicks(p);
    if (t === undefined) return undefined;
    sum += t;
  }
  return pids.length ? sum : undefined;
}

/** `pid`: the server's process, or all its processes (a server with workers). */
export async function measure(pid: number | undefined | number[], run: () => Promise<LoadResult>): Promise<Measured> {
  const pids = Array.isArray(pid) ? pid : pid ? [pid] : [];
  const before = ticksOf(pids);
  const r = await run();
  const after = ticksOf(pids);
  return before === undefined || after === undefined || !r.requests ? r : { ...r, cpuUsPerRequest: Math.round(((after - before) * 10_000) / r.requests) };
}

/** The serving workers a core's primary forked (MORTISE_WORKERS ≥ 2), not the extension backends it also runs. */
export function workerPids(primaryPid: number): number[] {
  try {
    const children = readFileSync(`/proc/${primaryPid}/task/${primaryPid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    return children.filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('worker-main');
      } catch {
        return false;
      }
    });
  } catch {
    return [];
  }
}

/** The native edge's nginx processes under a core (its master, a child of the core, and the master's workers). */
export function edgeNginxPids(corePid: number): number[] {
  const master = withChildren(corePid).slice(1).find((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('mortise-edge-');
    } catch {
      return false;
    }
  });
  return master ? withChildren(master) : [];
}
