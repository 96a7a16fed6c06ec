import { describe, expect, it } from 'vitest';
import { defaultWorkers, workersFromEnv } from '../src/cluster/worker-count.js';

describe('MORTISE_WORKERS', () => {
  it('defaults to one process below 3 cores, then one fewer than the cores, at most 8', () => {
    expect([1, 2, 3, 4, 8, 9, 64].map((cores) => defaultWorkers(cores))).toEqual([1, 1, 2, 3, 7, 8, 8]);
    expect(workersFromEnv(undefined, 4)).toBe(3);
    expect(workersFromEnv(' ', 2)).toBe(1);
  });

  it('takes a whole number from 1 to 64 and refuses anything else, saying what it wants', () => {
    expect(workersFromEnv('1')).toBe(1);
    expect(workersFromEnv('4', 2)).toBe(4);
    for (const bad of ['0', '-2', '2.5', 'two', '65']) {
      expect(() => workersFromEnv(bad)).toThrow(/MORTISE_WORKERS must be a whole number from 1 to 64/);
    }
  });
});
