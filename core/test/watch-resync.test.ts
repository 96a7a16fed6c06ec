import { describe, expect, it } from 'vitest';
import type { KubeObject, ResourceRef, StoreEvent } from '../src/store/resource-store.js';
import { ConsumerView } from '../src/store/kube/watch-resync.js';

// The 410 healing of the core's own watches in kubernetes mode (watch-resync.ts), on listings
// given by hand: what the consumer is handed is exactly what differs from what it holds.

const ref: ResourceRef = { group: 'iam.mortise.io', resource: 'globalrolebindings' };
const obj = (name: string, rv: string, namespace?: string) => ({ metadata: { name, resourceVersion: rv, ...(namespace ? { namespace } : {}) } }) as KubeObject;
const event = (type: StoreEvent['type'], o: KubeObject): StoreEvent => ({ type, ref, namespace: o.metadata.namespace ?? '', name: o.metadata.name!, resourceVersion: o.metadata.resourceVersion!, object: o });
const seen = (events: StoreEvent[]) => events.map((e) => `${e.type} ${e.namespace}/${e.name}@${e.object.metadata.resourceVersion}`).sort();

describe('a watch of the core\'s own healed after a 410', () => {
  it('hands on what was added, changed and deleted since what the consumer listed and was handed', async () => {
    const view = new ConsumerView('10');
    // Listed at 10: a, b, c. Handed since: a changed, b deleted, d added.
    view.delivered(event('MODIFIED', obj('a', '11')));
    view.delivered(event('DELETED', obj('b', '12')));
    view.delivered(event('ADDED', obj('d', '13', 'ns')));
    const asked: Array<string | undefined> = [];
    const listings: Record<string, { items: KubeObject[]; resourceVersion: string }> = {
      10: { items: [obj('a', '1'), obj('b', '2'), obj('c', '3')], resourceVersion: '10' },
      now: { items: [obj('a', '11'), obj('c', '20'), obj('e', '21')], resourceVersion: '22' },
    };
    const out: StoreEvent[] = [];
    const since = await view.resync(async (rv) => { asked.push(rv); return listings[rv ?? 'now']!; }, (e) => out.push(e), ref);
    expect(asked).toEqual(['10', undefined]);
    expect(since).toBe('22');
    // a unchanged since its event; c changed; d gone; e new (b's deletion was already handed on).
    expect(seen(out)).toEqual(['ADDED /e@21', 'DELETED ns/d@13', 'MODIFIED /c@20']);

    // A second 410 starts from the view it keeps (no listing at the old version), with the events since.
    view.delivered(event('DELETED', obj('a', '23')));
    const again: StoreEvent[] = [];
    const asked2: Array<string | undefined> = [];
    await view.resync(async (rv) => { asked2.push(rv); return { items: [obj('a', '24'), obj('c', '20'), obj('e', '21')], resourceVersion: '25' }; }, (e) => again.push(e), ref);
    expect(asked2).toEqual([undefined]);
    expect(seen(again)).toEqual(['ADDED /a@24']);
  });

  it('keeps what it was handed when a listing fails, and tries again with it', async () => {
    const view = new ConsumerView('0');
    view.delivered(event('ADDED', obj('x', '5')));
    await expect(view.resync(async () => { throw new Error('connection reset'); }, () => undefined, ref)).rejects.toThrow('connection reset');
    const out: StoreEvent[] = [];
    await view.resync(async () => ({ items: [], resourceVersion: '9' }), (e) => out.push(e), ref);
    expect(seen(out)).toEqual(['DELETED /x@5']);
  });
});
