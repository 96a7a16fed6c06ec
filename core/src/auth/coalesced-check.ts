/**
 * Checks again, after a change, whether something still open (a watch, a tunnel, a streamed
 * answer) is allowed — one check at a time. A change arriving while a check runs asks for one
 * more after it (that check may have read the state before the change); any number of changes
 * meanwhile ask for that same one. So a burst of N RBAC writes costs each open stream two checks,
 * not N, and the answer that counts is always from a check that started after the last change.
 */
export class CoalescedCheck {
  private running = false;
  private again = false;
  private cancelled = false;

  /**
   * `check` answers whether it is still allowed (a rejection counts as no); `done` gets the answer
   * of the last check once no change is waiting, or `false` as soon as one says no.
   */
  constructor(private readonly check: () => Promise<boolean>, private readonly done: (allowed: boolean) => void) {}

  /** Whether a check is running or asked for. */
  get pending(): boolean {
    return this.running;
  }

  /** Something changed: check again (after the running check, if one is). */
  request(): void {
    if (this.cancelled) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.run();
  }

  /** What it guards ended: no more checks, no answer. */
  cancel(): void {
    this.cancelled = true;
  }

  private async run(): Promise<void> {
    for (;;) {
      this.again = false;
      const allowed = await this.check().catch(() => false);
      if (this.cancelled) return;
      if (allowed && this.again) continue;
      this.running = false;
      this.done(allowed);
      return;
    }
  }
}
