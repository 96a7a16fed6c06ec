import { availableParallelism } from 'node:os';

/**
 * How many processes serve clients (`MORTISE_WORKERS`). 1 is a single process, as before; N ≥ 2
 * forks N workers that share the port, beside the primary that writes the store and runs the
 * controllers and backends. The default leaves one core to the primary and the backends it runs,
 * which the workers proxy to: on 2 cores one serving process (a second one competes with the
 * backends for the same cores; measured in docs/benchmarks.md), from 3 cores up one fewer than
 * the cores, at most 8 (beyond that the single writer bounds writes, and reads rarely need more).
 */
export function defaultWorkers(cores = availableParallelism()): number {
  return cores >= 3 ? Math.min(cores - 1, 8) : 1;
}

/** MORTISE_WORKERS: a whole number from 1; unset or empty means the default. */
export function workersFromEnv(value: string | undefined, cores?: number): number {
  if (value === undefined || value.trim() === '') return defaultWorkers(cores);
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error(`MORTISE_WORKERS must be a whole number from 1 to 64 (1 = one process), not ${JSON.stringify(value)}`);
  return n;
}
