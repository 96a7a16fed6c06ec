import { describe, expect, it } from 'vitest';
import { CoalescedCheck } from '../src/auth/coalesced-check.js';

/** A check whose answers the test gives one at a time. */
function controlled() {
  const waiting: Array<(allowed: boolean) => void> = [];
  return { waiting, check: () => new Promise<boolean>((r) => waiting.push(r)) };
}
const settled = () => new Promise((r) => setImmediate(r));
/** A CoalescedCheck over a controlled check, recording its answers. */
function recording() {
  const c = controlled();
  const answers: boolean[] = [];
  return { c, answers, recheck: new CoalescedCheck(c.check, (allowed) => answers.push(allowed)) };
}

describe('CoalescedCheck (open watches and streams authorized again)', () => {
  it('runs one check at a time: a burst of changes during one costs one more, whose answer counts', async () => {
    const { c, answers, recheck } = recording();
    recheck.request();
    for (let i = 0; i < 1000; i++) recheck.request();
    expect(c.waiting).toHaveLength(1);
    // The first check read the state before the burst: its "yes" does not count.
    c.waiting.shift()!(true);
    await settled();
    expect(c.waiting).toHaveLength(1);
    expect(answers).toEqual([]);
    expect(recheck.pending).toBe(true);
    c.waiting.shift()!(true);
    await settled();
    expect(answers).toEqual([true]);
    expect(recheck.pending).toBe(false);
    // The next change checks again.
    recheck.request();
    expect(c.waiting).toHaveLength(1);
  });

  it('answers no at once, even with changes waiting, and counts a failing check as no', async () => {
    const { c, answers, recheck } = recording();
    recheck.request();
    recheck.request();
    c.waiting.shift()!(false);
    await settled();
    expect(answers).toEqual([false]);
    expect(c.waiting).toHaveLength(0);
    const failing = new CoalescedCheck(() => Promise.reject(new Error('authenticator down')), (allowed) => answers.push(allowed));
    failing.request();
    await settled();
    expect(answers).toEqual([false, false]);
  });

  it('once cancelled, neither checks nor answers', async () => {
    const { c, answers, recheck } = recording();
    recheck.request();
    recheck.request();
    recheck.cancel();
    c.waiting.shift()!(true);
    await settled();
    recheck.request();
    expect([answers, c.waiting.length]).toEqual([[], 0]);
  });
});
