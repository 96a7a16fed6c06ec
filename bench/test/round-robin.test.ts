import { afterEach, describe, expect, it } from 'vitest';
import { balancedOrders, medianRatio, roundRobin, roundsNote, roundTally, type RoundRobinTarget } from '../src/round-robin.js';
import type { LoadResult } from '../src/load.js';

// The bench's interleaved rounds (bench/src/round-robin.ts): the order of targets in each round,
// and the rounds measured again when the VM's host took too much of the CPU during one of their
// runs. The load is a function here (no wrk): what is tested is which figures are kept.

const result = (rps: number): LoadResult => ({ rps, p50: 1, p90: 1, p99: 1, errors: 0, non2xx: 0, requests: rps } as LoadResult);

/** A target whose n-th run serves `rps[n]` req/s. */
function target(name: string, rps: number[]): RoundRobinTarget & { runs: number } {
  const t = { name, runs: 0, run: async () => result(rps[t.runs++]!) };
  return t;
}

/** A steal meter answering the given percentages, one per run, in order. */
function meter(percentages: number[]) {
  let i = 0;
  return () => {
    const p = percentages[i++] ?? 0;
    return () => p;
  };
}

describe('interleaved rounds', () => {
  const saved = { max: process.env.BENCH_STEAL_MAX, reruns: process.env.BENCH_STEAL_RERUNS };
  afterEach(() => {
    for (const [k, v] of [['BENCH_STEAL_MAX', saved.max], ['BENCH_STEAL_RERUNS', saved.reruns]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  it('orders the targets so that each directly follows each other equally often', () => {
    for (const n of [2, 3, 4, 5, 8]) {
      const orders = balancedOrders(n, n % 2 ? 2 * n : n);
      const follows = new Map<string, number>();
      for (const order of orders) {
        expect([...order].sort()).toEqual(Array.from({ length: n }, (_, i) => i));
        for (let i = 1; i < n; i++) follows.set(`${order[i - 1]}>${order[i]}`, (follows.get(`${order[i - 1]}>${order[i]}`) ?? 0) + 1);
      }
      expect(follows.size).toBe(n * (n - 1));
      expect(new Set(follows.values()).size).toBe(1);
    }
  });

  it('measures a round again when the host took more than the limit in one of its runs, and keeps the new one', async () => {
    const a = target('a', [100, 100, 100, 999]);
    const b = target('b', [50, 50, 50, 50]);
    const before = { ...roundTally };
    // Rounds 1 and 2 clean; round 3's run of its second target stolen (20 %), its rerun clean.
    const m = await roundRobin([a, b], 3, 1, undefined, { stealMeter: meter([0, 0, 0, 0, 0, 20, 0, 0]) });
    expect(a.runs + b.runs).toBe(8);
    expect(roundTally.rerun - before.rerun).toBe(1);
    expect(roundTally.kept - before.kept).toBe(3);
    // Round 3's first attempt (a: 100, b: 50) was dropped: its second (a: 999) kept.
    expect(m.a!.rounds).toEqual([100, 100, 999]);
    expect(medianRatio(m.a!, m.b!)).toBe(2);
    expect(roundsNote(before)).toBe('3 rounds kept; 1 measured again because the host took more than 5 % of the CPU time in one of their runs');
  });

  it('keeps the least-stolen attempt of a round once the reruns are used up', async () => {
    process.env.BENCH_STEAL_RERUNS = '2';
    const a = target('a', [10, 20, 30, 40]);
    const b = target('b', [1, 1, 1, 1]);
    const before = { ...roundTally };
    // Every run stolen: round 1 tried three times (30 %, 9 %, 40 % at worst), round 2 once more.
    const m = await roundRobin([a, b], 2, 1, undefined, { stealMeter: meter([30, 0, 9, 0, 40, 0, 50, 50]) });
    expect(m.a!.rounds).toEqual([20, 40]);
    expect(roundTally.rerun - before.rerun).toBe(2);
    expect(roundTally.overLimit - before.overLimit).toBe(2);
  });

  it('never measures again with BENCH_STEAL_MAX=0', async () => {
    process.env.BENCH_STEAL_MAX = '0';
    const a = target('a', [1, 2]);
    const before = { ...roundTally };
    const m = await roundRobin([a], 2, 1, undefined, { stealMeter: meter([90, 90]) });
    expect(m.a!.rounds).toEqual([1, 2]);
    expect(roundTally.rerun - before.rerun).toBe(0);
  });
});
