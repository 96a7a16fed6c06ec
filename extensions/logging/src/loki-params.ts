import { parseDurationMs } from './logql.js';

// Loki's query parameters: timestamps as RFC 3339, Unix seconds (with a fraction) or Unix
// nanoseconds; steps as durations or seconds.

export class ParamError extends Error {}

export function parseTimeNs(value: string | null, fallback: bigint, name: string): bigint {
  if (value === null || value === '') return fallback;
  if (/^\d+\.\d+$/.test(value)) {
    const [s, frac] = value.split('.') as [string, string];
    return BigInt(s) * 1_000_000_000n + BigInt(frac.slice(0, 9).padEnd(9, '0'));
  }
  if (/^\d+$/.test(value)) return value.length <= 10 ? BigInt(value) * 1_000_000_000n : BigInt(value);
  const ms = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(ms)) throw new ParamError(`invalid ${name} ${JSON.stringify(value)}: give RFC 3339, Unix seconds or Unix nanoseconds`);
  const nanos = /\.(\d+)/.exec(value)?.[1] ?? '';
  return BigInt(Math.floor(ms / 1000)) * 1_000_000_000n + BigInt(nanos.slice(0, 9).padEnd(9, '0') || '0');
}

export function parseStepMs(value: string | null, startNs: bigint, endNs: bigint): number {
  if (value === null || value === '') {
    // Loki's default: about 250 points over the range, at least one second apart.
    return Math.max(Math.floor(Number((endNs - startNs) / 1_000_000n) / 250 / 1000), 1) * 1000;
  }
  const ms = /^\d+(\.\d+)?$/.test(value) ? Number(value) * 1000 : parseDurationMs(value);
  if (!ms || ms <= 0) throw new ParamError(`invalid step ${JSON.stringify(value)}: give a positive duration (30s, 1m) or seconds`);
  return ms;
}

export function parseLimit(value: string | null, fallback: number, max: number): number {
  if (value === null || value === '') return fallback;
  if (!/^\d+$/.test(value)) throw new ParamError(`invalid limit ${JSON.stringify(value)}: give a positive integer`);
  const n = Number(value);
  if (n > max) throw new ParamError(`limit ${n} is more than the ${max} allowed`);
  return n;
}

export function parseDirection(value: string | null): 'forward' | 'backward' {
  if (value === null || value === '' || value === 'backward' || value === 'BACKWARD') return 'backward';
  if (value === 'forward' || value === 'FORWARD') return 'forward';
  throw new ParamError(`invalid direction ${JSON.stringify(value)}: forward or backward`);
}
