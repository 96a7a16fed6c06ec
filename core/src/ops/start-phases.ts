/**
 * Where a start spends its time: milliseconds per phase of `createCore` and `listen`, logged once
 * (`core.started`) when the core is ready, with the time since the process started (which adds
 * loading the code).
 */
export class StartPhases {
  private last = performance.now();
  readonly phases: Record<string, number> = {};

  /** Ends the phase running since the previous mark. */
  mark(phase: string): void {
    const now = performance.now();
    this.phases[phase] = Math.round(now - this.last);
    this.last = now;
  }

  summary(): { phases: Record<string, number>; ms: number; sinceProcessStartMs: number } {
    return { phases: this.phases, ms: Object.values(this.phases).reduce((a, b) => a + b, 0), sinceProcessStartMs: Math.round(this.last) };
  }
}
