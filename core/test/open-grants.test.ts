import { describe, expect, it } from 'vitest';
import { OpenGrants, type OpenGrant } from '../src/gateway/open-grants.js';

/** A grant whose answer the test gives, recording whether it was ended. */
function grant(answer: () => Promise<boolean>) {
  const g: OpenGrant & { checks: number; ended: number } = { checks: 0, ended: 0, stillAllowed: () => (g.checks++, answer()), end: () => void g.ended++ };
  return g;
}
const settled = () => new Promise((r) => setImmediate(r));

describe('OpenGrants (websocket tunnels and streamed answers authorized again)', () => {
  it('ends the grants refused now, once, and keeps those still allowed', async () => {
    const grants = new OpenGrants();
    const kept = grant(async () => true);
    const refused = grant(async () => false);
    const failing = grant(() => Promise.reject(new Error('authenticator down')));
    for (const g of [kept, refused, failing]) grants.add(g, grants.generation);
    expect(kept.checks + refused.checks + failing.checks).toBe(0);
    grants.revalidate();
    grants.revalidate();
    await settled();
    expect([kept.ended, refused.ended, failing.ended]).toEqual([0, 1, 1]);
    expect(grants.size).toBe(1);
  });

  it('checks at once a grant authorized before a change and registered after it', async () => {
    const grants = new OpenGrants();
    const since = grants.generation;
    grants.revalidate();
    const late = grant(async () => false);
    grants.add(late, since);
    const current = grant(async () => false);
    grants.add(current, grants.generation);
    await settled();
    expect([late.checks, late.ended, current.checks]).toEqual([1, 1, 0]);
  });

  it('checks each grant twice for a burst of changes, not once per change', async () => {
    const grants = new OpenGrants();
    let answer!: (v: boolean) => void;
    const g = grant(() => new Promise<boolean>((r) => (answer = r)));
    grants.add(g, grants.generation);
    for (let i = 0; i < 500; i++) grants.revalidate();
    answer(true);
    await settled();
    answer(false);
    await settled();
    expect([g.checks, g.ended, grants.size]).toEqual([2, 1, 0]);
  });

  it('leaves alone a grant that ended while it was checked', async () => {
    const grants = new OpenGrants();
    let refuse!: (v: boolean) => void;
    const g = grant(() => new Promise<boolean>((r) => (refuse = r)));
    grants.add(g, grants.generation);
    grants.revalidate();
    grants.delete(g);
    refuse(false);
    await settled();
    expect(g.ended).toBe(0);
  });
});
