import { readFileSync } from 'node:fs';
import type { LoadResult } from './load.js';

// CPU a server process spent per request: utime + stime from /proc/<pid>/stat around a load run.
// On a shared machine it stays comparable where req/s and latency swing with others' load.

/** A load result and the CPU the measured server spent per request (µs), when its pid is known. */
export interface Measured extends LoadResult {
  cpuUsPerRequest?: number;
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

export async function measure(pid: number | undefined, run: () => Promise<LoadResult>): Promise<Measured> {
  const before = cpuTicks(pid);
  const r = await run();
  const after = cpuTicks(pid);
  return before === undefined || after === undefined || !r.requests ? r : { ...r, cpuUsPerRequest: Math.round(((after - before) * 10_000) / r.requests) };
}
