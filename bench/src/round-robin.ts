import { ticksOf, type Measured } from './cpu.js';
import type { LoadResult } from './load.js';
import { cpuSnapshot, stolenSince } from './steal.js';

// One load run per target, one after the other, compares targets measured at different moments,
// and this machine's speed drifts between moments: a virtual CPU that has to wake, others' work.
// The same nginx configuration measured twice in a row differed by up to 30 % in 5-s runs. Taking
// every target in turn for many short rounds puts each round's figures under the same
// conditions; the ratio of two targets is then the median of their per-round ratios (±5 % here).
// A target also pays for what the one before it leaves behind (a Node process's garbage
// collection and JIT threads, a backlog of spans) for the first part of its round. Rotating the
// order by one keeps every target behind the same neighbour in every round, so that cost fell on
// one target only; the orders are a Williams design instead, in which every target follows
// every other equally often (BENCH_ORDER=rotated brings the old order back, to compare).
// Measured (2026-12-03): after a 1-s round at c=64 the mesh's two-worker Node plane spent another
// 80–170 ms of CPU in the next second, the least Node proxy 10–110 ms, nginx none. So after each
// run the bench also waits until no measured process uses CPU (`settle`, at most
// BENCH_SETTLE_MS, 1,000 by default; 0: no wait), and counts what they spent meanwhile as the
// target's own CPU.
// The VM's host takes a share of the machine's CPU time that moves from 0 to half within minutes
// (steal.ts), and a round measured while it is high compares targets that each got a different
// machine. So a round in any run of which the host took more than BENCH_STEAL_MAX % (5 by default;
// 0: never) of the CPU time the machine wanted is measured again, in the same order, up to
// BENCH_STEAL_RERUNS more rounds (as many as asked, by default). Whether a round is measured again
// depends on /proc/stat alone, never on its figures; when the reruns are used up, the order's
// least-stolen attempt is kept. Every section says how many rounds were measured again.

export interface RoundRobinTarget {
  name: string;
  /** The processes whose CPU is the target's (none: not measured); a function is asked each round. */
  pids?: number[] | (() => number[]);
  run: (seconds: number) => Promise<LoadResult>;
}

/** A target's figures over all its rounds, and each round's. */
export interface RoundRobinMeasured extends Measured {
  /** req/s of each round, in order. */
  rounds: number[];
  /** p50 (ms) of each round, in order. */
  roundsP50: number[];
  /**
   * The whole machine's CPU time (every process and the kernel, steal left out) per request while
   * this target was loaded, load generator included: where the processes measured do not add up
   * to the machine's cores, the rest (the load generator, the kernel's softirqs) is here.
   */
  machineUsPerRequest?: number;
}

export const median = (values: number[]): number => {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (!sorted.length) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

const ms = (x: number) => Math.round(x * 1000) / 1000;

/**
 * The order of targets in each of `rounds` rounds: rows of a Williams design (for n targets,
 * n rows if n is even, 2n if odd), in which each target directly follows each other target
 * equally often over a full set of rows; rows are repeated when there are more rounds.
 */
export function balancedOrders(n: number, rounds: number): number[][] {
  if (process.env.BENCH_ORDER === 'rotated') return Array.from({ length: rounds }, (_, r) => Array.from({ length: n }, (_, i) => (r + i) % n));
  // First row 0, 1, n−1, 2, n−2, …; row r adds r (mod n) to every entry.
  const first = Array.from({ length: n }, (_, i) => (i === 0 ? 0 : i % 2 ? (i + 1) / 2 : n - i / 2));
  const rows = Array.from({ length: n }, (_, r) => first.map((x) => (x + r) % n));
  // With an odd n the mirrored rows are needed too for every ordered pair to occur.
  const design = n % 2 ? [...rows, ...rows.map((row) => [...row].reverse())] : rows;
  return Array.from({ length: rounds }, (_, r) => design[r % design.length]!);
}

/**
 * Waits until none of `pids` has used CPU for `quietMs` (ticks are 10 ms), at most `maxMs`; a
 * process that is gone counts as quiet.
 */
export async function settle(pids: number[], maxMs = Number(process.env.BENCH_SETTLE_MS ?? 1000), quietMs = 100): Promise<void> {
  if (!pids.length || maxMs <= 0) return;
  const step = 50;
  const start = Date.now();
  const each = () => pids.map((p) => ticksOf([p]) ?? -1);
  let last = each();
  let quietSince = Date.now();
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, step));
    const now = each();
    if (now.some((t, i) => t !== last[i])) quietSince = Date.now();
    if (Date.now() - quietSince >= quietMs || Date.now() - start >= maxMs) return;
    last = now;
  }
}

/** CPU ticks spent by `pids` over many runs, per target (undefined once a pid was gone). */
class TickCounter {
  private readonly spent = new Map<string, number | undefined>();
  async around<T>(name: string, pids: number[], run: () => Promise<T>): Promise<T> {
    const before = ticksOf(pids);
    const result = await run();
    const after = ticksOf(pids);
    const spent = this.spent.has(name) ? this.spent.get(name) : 0;
    this.spent.set(name, spent === undefined || before === undefined || after === undefined ? undefined : spent + after - before);
    return result;
  }
  /** µs per request, one decimal. */
  perRequest(name: string, requests: number): number | undefined {
    const spent = this.spent.get(name);
    return spent !== undefined && requests ? Math.round((spent * 100_000) / requests) / 10 : undefined;
  }
}

export interface RoundRobinOptions {
  /** Starts measuring the host's steal over one run; the function returned says the percentage (default: /proc/stat, steal.ts). */
  stealMeter?: () => () => number;
}

const procStatSteal = () => {
  const from = cpuSnapshot();
  return () => stolenSince(from);
};

/** Rounds kept, rounds measured again for steal, and kept rounds still over the limit: over the whole process (`roundsNote`). */
export const roundTally = { kept: 0, rerun: 0, overLimit: 0 };

/** What `roundTally` counted since `from` (a copy taken before), as a sentence. */
export function roundsNote(from: typeof roundTally): string {
  const kept = roundTally.kept - from.kept;
  const rerun = roundTally.rerun - from.rerun;
  const over = roundTally.overLimit - from.overLimit;
  const limit = Number(process.env.BENCH_STEAL_MAX ?? 5);
  if (limit <= 0) return `${kept} rounds, none measured again for steal (BENCH_STEAL_MAX=0)`;
  return `${kept} rounds kept; ${rerun} measured again because the host took more than ${limit} % of the CPU time in one of their runs` +
    (over ? `, and ${over} kept over that (the reruns used up: the least-stolen attempt of its order)` : '');
}

/**
 * `rounds` rounds of `secondsPerRound` for every target in turn, in `balancedOrders`. req/s and latency percentiles
 * are the medians of the rounds', CPU µs/request all the rounds' CPU over all their requests.
 * `backendPids`: the process(es) all targets send to, whose CPU per request is measured behind
 * each (what a proxy adds to a request costs its backend too).
 */
export async function roundRobin(targets: RoundRobinTarget[], rounds: number, secondsPerRound = 1, backendPids?: number[], opts: RoundRobinOptions = {}): Promise<Record<string, RoundRobinMeasured>> {
  const stealMeter = opts.stealMeter ?? procStatSteal;
  const runs = new Map<string, LoadResult[]>(targets.map((t) => [t.name, []]));
  const cpu = new TickCounter();
  const backendCpu = new TickCounter();
  const pidsOf = (t: RoundRobinTarget) => (typeof t.pids === 'function' ? t.pids() : t.pids ?? []);
  const stealLimit = Number(process.env.BENCH_STEAL_MAX ?? 5);
  const measuredRequests = new Map<string, number>();
  const machineTicks = new Map<string, number>();
  let reruns = Number(process.env.BENCH_STEAL_RERUNS ?? rounds);
  for (const order of balancedOrders(targets.length, rounds)) {
    let best: { steal: number; results: Array<[string, LoadResult]> } | undefined;
    for (;;) {
      const results: Array<[string, LoadResult]> = [];
      let steal = 0;
      for (const index of order) {
        const t = targets[index]!;
        const pids = pidsOf(t);
        const everyone = [...new Set([...targets.flatMap(pidsOf), ...(backendPids ?? [])])];
        const stolen = stealMeter();
        const machineFrom = cpuSnapshot();
        const run = () => cpu.around(t.name, pids, async () => {
          const result = await t.run(secondsPerRound);
          await settle(everyone);
          return result;
        });
        const result = await (backendPids?.length ? backendCpu.around(t.name, backendPids, run) : run());
        const machineTo = cpuSnapshot();
        machineTicks.set(t.name, (machineTicks.get(t.name) ?? 0) + (machineTo.wanted - machineTo.steal) - (machineFrom.wanted - machineFrom.steal));
        results.push([t.name, result]);
        // CPU is counted over every attempt, so per request it is over every attempt's requests.
        measuredRequests.set(t.name, (measuredRequests.get(t.name) ?? 0) + result.requests);
        steal = Math.max(steal, stolen());
      }
      if (!best || steal < best.steal) best = { steal, results };
      if (stealLimit <= 0 || steal <= stealLimit || reruns <= 0) break;
      reruns--;
      roundTally.rerun++;
    }
    roundTally.kept++;
    if (stealLimit > 0 && best.steal > stealLimit) roundTally.overLimit++;
    for (const [name, result] of best.results) runs.get(name)!.push(result);
  }
  const out: Record<string, RoundRobinMeasured> = {};
  for (const t of targets) {
    const rs = runs.get(t.name)!;
    const requests = rs.reduce((n, r) => n + r.requests, 0);
    const cpuUsPerRequest = cpu.perRequest(t.name, measuredRequests.get(t.name) ?? 0);
    const measured = measuredRequests.get(t.name) ?? 0;
    const machineUsPerRequest = measured ? Math.round(((machineTicks.get(t.name) ?? 0) * 100_000) / measured) / 10 : undefined;
    const backendCpuUsPerRequest = backendPids?.length ? backendCpu.perRequest(t.name, measuredRequests.get(t.name) ?? 0) : undefined;
    out[t.name] = {
      rps: Math.round(median(rs.map((r) => r.rps))),
      p50: ms(median(rs.map((r) => r.p50))),
      p90: ms(median(rs.map((r) => r.p90))),
      p99: ms(median(rs.map((r) => r.p99))),
      errors: rs.reduce((n, r) => n + r.errors, 0),
      non2xx: rs.reduce((n, r) => n + r.non2xx, 0),
      requests,
      rounds: rs.map((r) => r.rps),
      roundsP50: rs.map((r) => r.p50),
      ...(cpuUsPerRequest !== undefined ? { cpuUsPerRequest } : {}),
      ...(backendCpuUsPerRequest !== undefined ? { backendCpuUsPerRequest } : {}),
      ...(machineUsPerRequest !== undefined ? { machineUsPerRequest } : {}),
    };
  }
  return out;
}

/** How many times `a`'s req/s is `b`'s: the median of the per-round ratios. */
export function medianRatio(a: RoundRobinMeasured, b: RoundRobinMeasured): number {
  return median(a.rounds.map((r, i) => r / b.rounds[i]!));
}

/** What `a` adds to `b`'s p50 (ms): the median of the per-round differences. */
export function medianAddedP50(a: RoundRobinMeasured, b: RoundRobinMeasured): number {
  return ms(median(a.roundsP50.map((p, i) => p - b.roundsP50[i]!)));
}
