/** Pulls exact byte counts out of an async stream of chunks (a decompressed tar). */
export class BlockReader {
  private readonly iterator: AsyncIterator<Buffer>;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private done = false;

  constructor(source: AsyncIterable<Buffer>) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  /** Exactly `n` bytes; undefined at a clean end of stream; throws on a partial read. */
  async read(n: number): Promise<Buffer | undefined> {
    while (this.buffered < n && !this.done) {
      const next = await this.iterator.next();
      if (next.done) {
        this.done = true;
      } else {
        this.chunks.push(next.value);
        this.buffered += next.value.length;
      }
    }
    if (this.buffered === 0 && n > 0) return undefined;
    if (this.buffered < n) throw new TruncatedError();
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return out;
  }

  /**
   * The next `n` bytes as the chunks they arrive in (never more than one source chunk held at
   * a time), so a large entry passes through without being gathered. Iterating it again after
   * a `break` resumes where it stopped; `skipRest()` discards what is left. Read it (or skip
   * it) fully before reading on.
   */
  body(n: number): EntryBody {
    let left = n;
    const next = async (): Promise<IteratorResult<Buffer, undefined>> => {
      if (left === 0) return { done: true, value: undefined };
      while (this.buffered === 0) {
        if (this.done) throw new TruncatedError();
        const chunk = await this.iterator.next();
        if (chunk.done) {
          this.done = true;
          throw new TruncatedError();
        }
        this.chunks = [chunk.value];
        this.buffered = chunk.value.length;
      }
      const head = this.chunks[0]!;
      const take = Math.min(left, head.length);
      if (take === head.length) this.chunks.shift();
      else this.chunks[0] = head.subarray(take);
      this.buffered -= take;
      left -= take;
      return { done: false, value: head.subarray(0, take) };
    };
    return {
      [Symbol.asyncIterator]: () => ({ next, return: async () => ({ done: true, value: undefined }) }),
      async skipRest() {
        while (!(await next()).done) { /* discarded */ }
      },
    };
  }

  /** Stops the underlying stream (e.g. after the end-of-archive marker). */
  async close(): Promise<void> {
    if (!this.done) {
      this.done = true;
      await this.iterator.return?.();
    }
  }
}

export class TruncatedError extends Error {
  constructor() {
    super('unexpected end of data');
  }
}

export interface EntryBody extends AsyncIterable<Buffer> {
  skipRest(): Promise<void>;
}
