// A Bloom filter of the 4-grams of a block of lines: one bit per 4-gram (four UTF-16 code units,
// case kept, as LogQL's `|=` is case-sensitive). A needle can be in a block only if every 4-gram
// of the needle has its bit set, so a query reads only the blocks that may hold it. Building it
// is a few integer operations per character, far cheaper than a full-text index. 4-grams rather
// than trigrams: numbers and identifiers, what people search logs for, share most of their
// trigrams with every other block of numbers, and far fewer of their 4-grams.

/**
 * Bits per block filter (8 KiB): 1,024 lines of the benchmark's ~200 characters set a few
 * percent of them; even 20,000 distinct 4-grams set a quarter, and a needle of ten characters
 * (seven 4-grams) then passes a block that lacks it about once in 16,000.
 */
export const BLOOM_BITS = 1 << 16;
/** The hash's top bits index the filter. */
const SHIFT = 32 - 16;
const GRAM = 4;

/** The 4-gram's bit: its code units packed (exact for Latin-1, folded beyond), then a multiplicative hash. */
function bit(packed: number): number {
  return Math.imul(packed, 0x9e3779b1) >>> SHIFT;
}

export function newBloom(): Uint8Array {
  return new Uint8Array(BLOOM_BITS / 8);
}

/** Sets the bits of every 4-gram of `line`. */
export function addLine(bloom: Uint8Array, line: string): void {
  // Each shift pushes the code unit four places back out of the 32 bits: `packed` is always the last four.
  let packed = 0;
  for (let i = 0; i < line.length; i++) {
    packed = (packed << 8) ^ line.charCodeAt(i);
    if (i < GRAM - 1) continue;
    const k = bit(packed);
    bloom[k >>> 3]! |= 1 << (k & 7);
  }
}

/** The bits a block must have for each of `needles` to be possibly in it (none for needles under 4 characters). */
export function needleBits(needles: readonly string[]): number[] {
  const bits = new Set<number>();
  for (const n of needles) {
    for (let i = GRAM - 1; i < n.length; i++) {
      let packed = 0;
      for (let j = i - GRAM + 1; j <= i; j++) packed = (packed << 8) ^ n.charCodeAt(j);
      bits.add(bit(packed));
    }
  }
  return [...bits];
}

export function mayContain(bloom: Uint8Array, bits: readonly number[]): boolean {
  for (const k of bits) if ((bloom[k >>> 3]! & (1 << (k & 7))) === 0) return false;
  return true;
}
