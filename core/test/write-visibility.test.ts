import { describe, expect, it } from 'vitest';
import { WriteVisibility, type CacheWatch } from '../src/store/kube/write-visibility.js';
import type { StoreEvent } from '../src/store/resource-store.js';

// The bookkeeping of store/kube/write-visibility.ts on its own (kube-write-visibility.test.ts
// runs it in the cluster's store against a real kube-apiserver): which writes wait for which
// caches, events that come before the write's answer, and the wait's limit.

const roles = { group: 'iam.mortise.io', resource: 'roles' };
const event = (type: StoreEvent['type'], name: string, resourceVersion: string, namespace = 'a'): StoreEvent =>
  ({ type, ref: roles, namespace, name, resourceVersion, object: { metadata: { name, namespace, resourceVersion } } }) as StoreEvent;
const settled = async (p: Promise<void>, ms = 50) => Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);

describe('WriteVisibility', () => {
  it('releases a write once every cache of its collection has its version, whether the event came before or after the answer', async () => {
    const v = new WriteVisibility(60_000);
    const all: CacheWatch = { ref: roles, namespace: '' };
    const inA: CacheWatch = { ref: roles, namespace: 'a' };
    v.addCache(all);
    v.addCache(inA);
    const ticket = v.begin({ ...roles, namespace: 'a', name: 'r' })!;
    v.delivered(all, event('ADDED', 'r', '7')); // before the answer
    const waiting = ticket.seen({ resourceVersion: '7' });
    expect(await settled(waiting)).toBe(false);
    v.delivered(inA, event('ADDED', 'r', '6')); // an older write of the same object
    expect(await settled(waiting)).toBe(false);
    v.delivered(inA, event('MODIFIED', 'r', '7'));
    expect(await settled(waiting)).toBe(true);
  });

  it('waits for nothing where no cache watches the collection or the namespace', async () => {
    const v = new WriteVisibility(60_000);
    v.addCache({ ref: roles, namespace: 'b' });
    v.addCache({ ref: { group: 'iam.mortise.io', resource: 'rolebindings' }, namespace: '' });
    expect(v.begin({ ...roles, namespace: 'a', name: 'r' })).toBeUndefined();
  });

  it('releases a delete at the DELETED event, and a write whose cache stopped', async () => {
    const v = new WriteVisibility(60_000);
    const one: CacheWatch = { ref: roles, namespace: '' };
    const two: CacheWatch = { ref: roles, namespace: '' };
    v.addCache(one);
    v.addCache(two);
    const deleting = v.begin({ ...roles, namespace: 'a', name: 'r' })!.seen({ deleted: true });
    v.delivered(one, event('MODIFIED', 'r', '9'));
    v.delivered(one, event('DELETED', 'r', '10'));
    expect(await settled(deleting)).toBe(false);
    v.removeCache(two);
    expect(await settled(deleting)).toBe(true);
  });

  it('releases an update that took the last finalizer off an object being deleted at its removal', async () => {
    const v = new WriteVisibility(60_000);
    const c: CacheWatch = { ref: roles, namespace: '' };
    v.addCache(c);
    const update = v.begin({ ...roles, namespace: 'a', name: 'r' })!.seen({ deleted: true, uid: 'uid-1' });
    v.delivered(c, { ...event('MODIFIED', 'r', '12'), object: { metadata: { name: 'r', namespace: 'a', uid: 'uid-1' } } } as StoreEvent);
    expect(await settled(update)).toBe(false); // the update itself: the object is still in the cache
    v.delivered(c, { ...event('DELETED', 'r', '13'), object: { metadata: { name: 'r', namespace: 'a', uid: 'uid-0' } } } as StoreEvent);
    expect(await settled(update)).toBe(false); // another object of that name
    v.delivered(c, { ...event('DELETED', 'r', '14'), object: { metadata: { name: 'r', namespace: 'a', uid: 'uid-1' } } } as StoreEvent);
    expect(await settled(update)).toBe(true);
  });

  it('lets a write go after the limit when a cache never gets its event, and forgets it', async () => {
    const v = new WriteVisibility(100);
    const c: CacheWatch = { ref: roles, namespace: '' };
    v.addCache(c);
    const started = Date.now();
    await v.begin({ ...roles, namespace: 'a', name: 'r' })!.seen({ resourceVersion: '3' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    // A write cancelled (it failed) or timed out leaves nothing behind for later events to find.
    v.begin({ ...roles, namespace: 'a', name: 'r' })!.cancel();
    expect((v as unknown as { pending: Map<string, unknown> }).pending.size).toBe(0);
  });
});
