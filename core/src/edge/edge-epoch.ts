/**
 * The epoch of everything an edge decision reads. Any change to it (a role, a binding, a user, a
 * session, a route, a backend's health) makes a new epoch, pushed to nginx at once; decisions
 * made in an older epoch are not used again. A write is acknowledged to its client only once the
 * edge holds the epoch it made (`settled`), so a revoked token or permission stops at the next
 * request through the edge, as it does on the core's own port.
 */
export class EdgeEpoch {
  private current = 1;
  private pushed = 0;
  private running?: Promise<void>;
  private readonly waiters: Array<{ epoch: number; resolve: () => void }> = [];

  /**
   * @param push sends an epoch to nginx (rejects when nginx did not take it)
   * @param unreachable called when pushes keep failing: the edge must stop answering (its decisions may be stale)
   */
  constructor(private readonly push: (epoch: number) => Promise<void>, private readonly unreachable: (e: Error) => void, private readonly maxWaitMs = 2_000) {}

  get value(): number {
    return this.current;
  }

  bump(): void {
    this.current++;
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
  }

  /** The edge starts afresh (a new nginx process): it must be told the epoch before it decides anything. */
  restarted(): void {
    this.pushed = 0;
    this.bump();
  }

  /** Resolves once the edge holds the current epoch (or the edge was stopped for not taking it). */
  settled(): Promise<void> {
    if (this.pushed >= this.current) return Promise.resolve();
    const epoch = this.current;
    return new Promise((resolve) => this.waiters.push({ epoch, resolve }));
  }

  private async run(): Promise<void> {
    let failures = 0;
    let firstFailure = 0;
    while (this.pushed < this.current) {
      const target = this.current;
      try {
        await this.push(target);
        this.pushed = Math.max(this.pushed, target);
        failures = 0;
      } catch (e) {
        failures++;
        firstFailure ||= Date.now();
        if (Date.now() - firstFailure >= this.maxWaitMs) {
          // Fail closed: an edge that cannot be told is stopped, and whoever waits goes on.
          this.unreachable(e as Error);
          this.pushed = this.current;
          break;
        }
        await new Promise((r) => setTimeout(r, Math.min(20 * failures, 200)));
      }
      this.release();
    }
    this.release();
  }

  private release(): void {
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      if (this.waiters[i]!.epoch <= this.pushed) this.waiters.splice(i, 1)[0]!.resolve();
    }
  }
}
