import { describe, expect, it } from 'vitest';
import { generatedNameSuffix } from '../src/registry/generated-name.js';

describe('generateName suffixes', () => {
  it('are five characters of the Kubernetes alphabet, drawn across pool refills without repeating a run', () => {
    // 10,000 suffixes: twelve refills of the 4 KiB pool.
    const suffixes = Array.from({ length: 10_000 }, () => generatedNameSuffix());
    for (const s of suffixes) expect(s).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    // 27^5 ≈ 14.3 million names: 10,000 draws collide a few times at most (birthday bound ~3.5).
    expect(new Set(suffixes).size).toBeGreaterThan(9_980);
    // Every character of the alphabet is drawn, in roughly equal shares (50,000 characters, ~1,852 each).
    const counts = new Map<string, number>();
    for (const c of suffixes.join('')) counts.set(c, (counts.get(c) ?? 0) + 1);
    expect(counts.size).toBe(27);
    for (const n of counts.values()) expect(n).toBeGreaterThan(1_500);
  });
});
