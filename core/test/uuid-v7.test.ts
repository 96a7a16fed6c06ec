import { describe, expect, it } from 'vitest';
import { uuidV7 } from '../src/api/uuid-v7.js';

// Object uids and audit IDs: UUIDs (RFC 9562 version 7) that sort by creation time.

const format = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const msOf = (u: string) => parseInt(u.replace(/-/g, '').slice(0, 12), 16);

describe('uuidV7', () => {
  it('is a version 7, variant 1 UUID whose first 48 bits are the time in ms', () => {
    for (const now of [0, 1, 2 ** 32 - 1, 2 ** 32, 1_764_676_800_123, 2 ** 48 - 1]) {
      const u = uuidV7(now);
      expect(u).toMatch(format);
      expect(msOf(u)).toBe(now);
    }
    const before = Date.now();
    const u = uuidV7();
    expect(msOf(u)).toBeGreaterThanOrEqual(before);
    expect(msOf(u)).toBeLessThanOrEqual(Date.now());
  });

  it('sorts by time across milliseconds, and is unique (74 random bits) within one', () => {
    const ids = Array.from({ length: 50_000 }, (_, i) => uuidV7(1_764_676_800_000 + Math.floor(i / 1000)));
    expect(new Set(ids).size).toBe(ids.length);
    for (let i = 1000; i < ids.length; i += 1000) expect(ids[i - 1]! < ids[i]!).toBe(true);
    // The random part is not a counter: two in the same ms differ beyond the version nibble.
    expect(ids[0]!.slice(15)).not.toBe(ids[1]!.slice(15));
  });
});
