// Timeouts of calls in flight without a timer per call: the calls with a deadline sit in a set
// that one interval sweeps every TICK_MS while any is there. A timeout fires up to a tick late;
// a request pays a set insert and delete instead of a timer and an AbortController per try.

export const TICK_MS = 5;
/** Idle sweeps before the interval stops (so that sequential requests do not start one each). */
const IDLE_SWEEPS = 200;

export interface Expiring {
  /** ms since the epoch. */
  deadline: number;
  expire(): void;
}

export class Deadlines {
  private readonly pending = new Set<Expiring>();
  private timer?: NodeJS.Timeout;
  private idle = 0;

  constructor(private readonly now: () => number = Date.now) {}

  add(item: Expiring): void {
    this.pending.add(item);
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), TICK_MS);
      this.timer.unref();
    }
  }

  delete(item: Expiring): void {
    this.pending.delete(item);
  }

  private sweep(): void {
    if (this.pending.size === 0) {
      if (++this.idle < IDLE_SWEEPS) return;
      clearInterval(this.timer);
      this.timer = undefined;
      return;
    }
    this.idle = 0;
    const t = this.now();
    for (const item of this.pending) {
      if (item.deadline > t) continue;
      this.pending.delete(item);
      item.expire();
    }
  }
}
