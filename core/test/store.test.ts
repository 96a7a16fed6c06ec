import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreError, type KubeObject, type StoreEvent } from '../src/store/resource-store.js';
import { SqliteStore } from '../src/store/sqlite-store.js';

// The embedded store on its own: a real SQLite file in a temp dir, no server.

const widgets = { group: 'test.mortise.io', resource: 'widgets' };
const gadgets = { group: 'test.mortise.io', resource: 'gadgets' };

let uidCounter = 0;
const obj = (name: string, namespace = '', extra: Partial<KubeObject['metadata']> = {}, spec: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: 'test.mortise.io/v1', kind: 'Widget',
  metadata: { name, ...(namespace ? { namespace } : {}), uid: `uid-${++uidCounter}`, ...extra },
  spec,
});

async function storeError(p: Promise<unknown> | (() => unknown)): Promise<StoreError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e).toBeInstanceOf(StoreError);
    return e as StoreError;
  }
  throw new Error('expected a StoreError, the call succeeded');
}

/** The error a watch ends with: a cluster's 410 arrives on an open stream, so never thrown by `watch()`. */
function watchError(store: SqliteStore, since: number | string): Promise<StoreError> {
  return new Promise((resolve, reject) => {
    const events: string[] = [];
    store.watch(widgets, { sinceResourceVersion: String(since) }, (e) => events.push(e.name), (err) => (events.length ? reject(new Error(`events came before the error: ${events}`)) : resolve(err)));
    setTimeout(() => reject(new Error('the watch did not end with an error')), 2000);
  });
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDbPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mortise-store-'));
  dirs.push(dir);
  return join(dir, 'store.db');
}

describe('SqliteStore', () => {
  let path: string;
  let store: SqliteStore;
  beforeEach(() => {
    path = tempDbPath();
    store = new SqliteStore({ path });
  });
  afterEach(async () => {
    await store.close();
  });

  it('creates, gets, updates and deletes an object', async () => {
    const created = await store.create(widgets, obj('a', '', {}, { size: 1 }));
    expect(created.metadata.name).toBe('a');
    expect(created.metadata.resourceVersion).toMatch(/^\d+$/);

    const got = await store.get({ ...widgets, namespace: '', name: 'a' });
    expect(got).toEqual(created);
    // get gives a copy: changing it does not change the store.
    got!.spec = { size: 99 };
    expect((await store.get({ ...widgets, namespace: '', name: 'a' }))!.spec).toEqual({ size: 1 });

    const updated = await store.update(widgets, { ...created, spec: { size: 2 } }, created.metadata.resourceVersion);
    expect(Number(updated.metadata.resourceVersion)).toBeGreaterThan(Number(created.metadata.resourceVersion));
    expect((await store.get({ ...widgets, namespace: '', name: 'a' }))!.spec).toEqual({ size: 2 });

    const removed = await store.delete({ ...widgets, namespace: '', name: 'a' }, updated.metadata.resourceVersion);
    expect(removed.spec).toEqual({ size: 2 });
    expect(Number(removed.metadata.resourceVersion)).toBeGreaterThan(Number(updated.metadata.resourceVersion));
    expect(await store.get({ ...widgets, namespace: '', name: 'a' })).toBeUndefined();
  });

  it('keeps resources and namespaces apart', async () => {
    await store.create(widgets, obj('same', 'ns1', {}, { where: 'w/ns1' }));
    await store.create(widgets, obj('same', 'ns2', {}, { where: 'w/ns2' }));
    await store.create(gadgets, obj('same', 'ns1', {}, { where: 'g/ns1' }));
    expect((await store.get({ ...widgets, namespace: 'ns1', name: 'same' }))!.spec).toEqual({ where: 'w/ns1' });
    expect((await store.get({ ...widgets, namespace: 'ns2', name: 'same' }))!.spec).toEqual({ where: 'w/ns2' });
    expect((await store.get({ ...gadgets, namespace: 'ns1', name: 'same' }))!.spec).toEqual({ where: 'g/ns1' });
    expect(await store.get({ ...gadgets, namespace: 'ns2', name: 'same' })).toBeUndefined();
    expect((await store.list(widgets)).items).toHaveLength(2);
    expect((await store.list(widgets, { namespace: 'ns2' })).items.map((o) => o.spec)).toEqual([{ where: 'w/ns2' }]);
    expect((await store.list(gadgets)).items).toHaveLength(1);
  });

  it('answers AlreadyExists, NotFound and Conflict with typed errors and writes nothing', async () => {
    const a = await store.create(widgets, obj('a'));
    const rv = await store.currentResourceVersion();

    expect((await storeError(store.create(widgets, obj('a')))).reason).toBe('AlreadyExists');
    expect((await storeError(store.update(widgets, obj('missing')))).reason).toBe('NotFound');
    expect((await storeError(store.delete({ ...widgets, namespace: '', name: 'missing' }))).reason).toBe('NotFound');
    expect((await storeError(store.update(widgets, { ...a, spec: { x: 1 } }, String(Number(a.metadata.resourceVersion) - 1)))).reason).toBe('Conflict');
    expect((await storeError(store.update(widgets, { ...a, spec: { x: 1 } }, 'not-a-version'))).reason).toBe('Conflict');
    expect((await storeError(store.delete({ ...widgets, namespace: '', name: 'a' }, '999999'))).reason).toBe('Conflict');

    // None of the failures bumped the resourceVersion or changed the object.
    expect(await store.currentResourceVersion()).toBe(rv);
    expect(await store.get({ ...widgets, namespace: '', name: 'a' })).toEqual(a);
    // Without an expected version the write is unconditional.
    const b = await store.update(widgets, { ...a, spec: { x: 2 } });
    expect(b.spec).toEqual({ x: 2 });
  });

  it('gives strictly increasing resourceVersions, also after the file is closed and reopened', async () => {
    const seen: number[] = [];
    for (let i = 0; i < 20; i++) {
      const o = await store.create(widgets, obj(`o${i}`));
      seen.push(Number(o.metadata.resourceVersion));
      const u = await store.update(widgets, { ...o, spec: { i } }, o.metadata.resourceVersion);
      seen.push(Number(u.metadata.resourceVersion));
    }
    const d = await store.delete({ ...widgets, namespace: '', name: 'o0' });
    seen.push(Number(d.metadata.resourceVersion));
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThan(seen[i - 1]!);
    expect(Number(await store.currentResourceVersion())).toBe(seen[seen.length - 1]);
    const before = await store.currentResourceVersion();

    await store.close();
    store = new SqliteStore({ path });
    expect(await store.currentResourceVersion()).toBe(before);
    expect((await store.list(widgets)).items).toHaveLength(19);
    expect((await store.get({ ...widgets, namespace: '', name: 'o5' }))!.spec).toEqual({ i: 5 });
    const after = await store.create(widgets, obj('after-reopen'));
    expect(Number(after.metadata.resourceVersion)).toBeGreaterThan(Number(before));
    // Even deleting the newest object and reopening never reuses a version.
    await store.delete({ ...widgets, namespace: '', name: 'after-reopen' });
    const top = Number(await store.currentResourceVersion());
    await store.close();
    store = new SqliteStore({ path });
    expect(Number((await store.create(widgets, obj('again'))).metadata.resourceVersion)).toBe(top + 1);
  });

  it('lists with the resourceVersion the list was read at', async () => {
    await store.create(widgets, obj('a'));
    await store.create(gadgets, obj('g'));
    const list = await store.list(widgets);
    expect(list.resourceVersion).toBe(await store.currentResourceVersion());
  });

  it('replays watch history after a resourceVersion, then streams live events, in order', async () => {
    const a = await store.create(widgets, obj('a', 'ns1'));
    const from = a.metadata.resourceVersion!;
    const b = await store.create(widgets, obj('b', 'ns2'));
    await store.create(gadgets, obj('other-resource', 'ns1'));
    const a2 = await store.update(widgets, { ...a, spec: { v: 2 } });
    await store.delete({ ...widgets, namespace: 'ns2', name: 'b' });

    const events: StoreEvent[] = [];
    const w = store.watch(widgets, { sinceResourceVersion: from }, (e) => events.push(e));
    // Replay is synchronous: everything after `from`, nothing at or before it, only this resource.
    expect(events.map((e) => [e.type, e.name])).toEqual([['ADDED', 'b'], ['MODIFIED', 'a'], ['DELETED', 'b']]);
    expect(events[0]!.resourceVersion).toBe(b.metadata.resourceVersion);
    expect(events[1]!.object.spec).toEqual({ v: 2 });
    expect(events[1]!.object.metadata.resourceVersion).toBe(a2.metadata.resourceVersion);
    // DELETED carries the last state, at the deletion's version.
    expect(events[2]!.object.metadata.resourceVersion).toBe(events[2]!.resourceVersion);

    await store.create(widgets, obj('c', 'ns1'));
    await store.create(gadgets, obj('not-mine', 'ns1'));
    expect(events.map((e) => [e.type, e.name])).toEqual([['ADDED', 'b'], ['MODIFIED', 'a'], ['DELETED', 'b'], ['ADDED', 'c']]);
    for (let i = 1; i < events.length; i++) expect(Number(events[i]!.resourceVersion)).toBeGreaterThan(Number(events[i - 1]!.resourceVersion));

    w.stop();
    await store.create(widgets, obj('d', 'ns1'));
    expect(events).toHaveLength(4);

    // A namespaced watch replays and streams only its namespace.
    const ns1: string[] = [];
    const w2 = store.watch(widgets, { namespace: 'ns1', sinceResourceVersion: '0' }, (e) => ns1.push(`${e.type} ${e.name}`));
    await store.create(widgets, obj('e', 'ns2'));
    await store.create(widgets, obj('f', 'ns1'));
    w2.stop();
    expect(ns1).toEqual(['ADDED a', 'MODIFIED a', 'ADDED c', 'ADDED d', 'ADDED f']);
  });

  it('replayed MODIFIED events carry the previous labels when they changed (for label-selector watches)', async () => {
    const a = await store.create(widgets, obj('a', '', { labels: { sel: 'no' } }));
    const since = a.metadata.resourceVersion!;
    const a2 = await store.update(widgets, { ...a, metadata: { ...a.metadata, labels: { sel: 'yes' } } });
    const a3 = await store.update(widgets, { ...a2, spec: { changed: true } });
    await store.update(widgets, { ...a3, metadata: { ...a3.metadata, labels: undefined } });
    const live: StoreEvent[] = [];
    store.watch(widgets, { sinceResourceVersion: since }, (e) => live.push(e)).stop();
    expect(live.map((e) => [e.type, e.object.metadata.labels, e.previous?.metadata.labels])).toEqual([
      ['MODIFIED', { sel: 'yes' }, { sel: 'no' }],
      ['MODIFIED', { sel: 'yes' }, undefined],
      ['MODIFIED', undefined, { sel: 'yes' }],
    ]);
  });

  it('commits concurrent creates in one transaction (group commit); a failing create leaves the others, events come in order', async () => {
    await store.create(widgets, obj('taken'));
    // Each commit appends every page it changed to the WAL, at least the resourceVersion
    // counter's: a commit per create would append at least a frame per create.
    const Database = (await import('better-sqlite3')).default;
    const observer = new Database(path, { readonly: true });
    const frameBytes = (observer.pragma('page_size', { simple: true }) as number) + 24;
    observer.close();
    const walFrames = () => (statSync(`${path}-wal`).size - 32) / frameBytes;
    const before = walFrames();
    const events: StoreEvent[] = [];
    store.watch(widgets, {}, (e) => events.push(e));
    const settled = await Promise.allSettled([
      ...Array.from({ length: 10 }, (_, i) => store.create(widgets, obj(`w-${i}`))),
      store.create(widgets, obj('taken')),
      ...Array.from({ length: 10 }, (_, i) => store.create(widgets, obj(`w-${10 + i}`))),
    ]);
    expect(walFrames() - before).toBeLessThan(10);
    expect(settled[10]!.status === 'rejected' && (settled[10].reason as StoreError).reason).toBe('AlreadyExists');
    const created = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value as KubeObject] : []));
    expect(created.map((o) => o.metadata.name)).toEqual(Array.from({ length: 20 }, (_, i) => `w-${i}`));
    // Every create has its own resourceVersion, in the order asked, with no gap left by the failure.
    const rvs = created.map((o) => Number(o.metadata.resourceVersion));
    expect(rvs).toEqual(Array.from({ length: 20 }, (_, i) => rvs[0]! + i));
    expect(events.map((e) => Number(e.resourceVersion))).toEqual(rvs);
    expect((await store.list(widgets)).items).toHaveLength(21);
  });

  it('a batched create whose write fails half-way is undone alone: the batch is redone with a savepoint per create', async () => {
    // A real failure after the object's row is inserted: a trigger (made by another connection)
    // refuses the owner row of one object. Only that create may fail, and none of its rows stay.
    const Database = (await import('better-sqlite3')).default;
    const other = new Database(path);
    other.exec(`CREATE TRIGGER refuse_owner BEFORE INSERT ON owner_refs WHEN NEW.name = 'w-bad' BEGIN SELECT RAISE(ABORT, 'owner row refused'); END`);
    other.close();
    const events: StoreEvent[] = [];
    store.watch(widgets, {}, (e) => events.push(e));
    const owned = { ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: 'owner-uid' }] };
    const settled = await Promise.allSettled([
      store.create(widgets, obj('w-0', '', owned)),
      store.create(widgets, obj('w-bad', '', owned)),
      store.create(widgets, obj('w-1', '', owned)),
    ]);
    expect(settled[1]!.status === 'rejected' && (settled[1].reason as Error).message).toMatch(/owner row refused/);
    const created = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value as KubeObject] : []));
    expect(created.map((o) => o.metadata.name)).toEqual(['w-0', 'w-1']);
    const rvs = created.map((o) => Number(o.metadata.resourceVersion));
    expect(rvs[1]).toBe(rvs[0]! + 1);
    expect(events.map((e) => [e.name, Number(e.resourceVersion)])).toEqual([['w-0', rvs[0]], ['w-1', rvs[1]]]);
    expect(await store.get({ ...widgets, namespace: '', name: 'w-bad' })).toBeUndefined();
    expect((await store.listDependents('owner-uid')).map((d) => d.object.metadata.name).sort()).toEqual(['w-0', 'w-1']);
    // Once the trigger no longer refuses, the same name can be created: nothing of it was left.
    const fix = new Database(path);
    fix.exec('DROP TRIGGER refuse_owner');
    fix.close();
    expect((await store.create(widgets, obj('w-bad', '', owned))).metadata.resourceVersion).toBe(String(rvs[1]! + 1));
  });

  it('answers a create with its own copy: changing it changes neither what watchers got nor what is stored', async () => {
    const seen: StoreEvent[] = [];
    store.watch(widgets, {}, (e) => seen.push(e));
    const created = await store.create(widgets, obj('mine', '', { labels: { a: 'b' } }, { size: 1 }));
    expect(created).toEqual(seen[0]!.object);
    created.metadata.labels!.a = 'changed';
    (created.spec as { size: number }).size = 2;
    expect(seen[0]!.object.metadata.labels).toEqual({ a: 'b' });
    expect((await store.get({ ...widgets, namespace: '', name: 'mine' }))!.spec).toEqual({ size: 1 });
  });

  it('knows which namespaces are live as of the last commit (a terminating or deleted one is seen at once), and a replica reads its file each time', async () => {
    const namespaces = { group: '', resource: 'namespaces' };
    const nsKey = { ...namespaces, namespace: '', name: 'team' };
    const stateOf = async (s: SqliteStore) => {
      const ns = await s.namespaceForCreate('team');
      return !ns ? 'missing' : ns.metadata.deletionTimestamp ? 'terminating' : 'live';
    };
    expect(await stateOf(store)).toBe('missing');
    await store.create(namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team', uid: 'ns-uid' } });
    expect(await stateOf(store)).toBe('live');
    expect(await stateOf(store)).toBe('live');
    const replica = new SqliteStore({ path, readOnly: true });
    try {
      expect(await stateOf(replica)).toBe('live');
      const held = await store.get(nsKey);
      await store.update(namespaces, { ...held!, metadata: { ...held!.metadata, deletionTimestamp: '2026-01-01T00:00:00Z', finalizers: ['example.com/hold'] } });
      expect(await stateOf(store)).toBe('terminating');
      expect(await stateOf(replica)).toBe('terminating');
      await store.delete(nsKey);
      expect(await stateOf(store)).toBe('missing');
      expect(await stateOf(replica)).toBe('missing');
      await store.create(namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team', uid: 'ns-uid-2' } });
      expect(await stateOf(store)).toBe('live');
      await store.deleteObject(nsKey);
      expect(await stateOf(store)).toBe('missing');
    } finally {
      await replica.close();
    }
  });

  it('an update or delete asked for while creates wait commits them first: resourceVersions follow the order of the calls', async () => {
    await store.create(widgets, obj('existing'));
    const events: string[] = [];
    store.watch(widgets, {}, (e) => events.push(`${e.type} ${e.name} ${e.resourceVersion}`));
    const first = store.create(widgets, obj('first'));
    const updated = store.update(widgets, { ...obj('existing'), spec: { n: 1 } });
    const second = store.create(widgets, obj('second'));
    const deleted = store.delete({ ...widgets, namespace: '', name: 'first' });
    const rv = async (p: Promise<KubeObject>) => Number((await p).metadata.resourceVersion);
    const [a, b, c, d] = [await rv(first), await rv(updated), await rv(second), await rv(deleted)];
    expect([b - a, c - b, d - c]).toEqual([1, 1, 1]);
    expect(events).toEqual([`ADDED first ${a}`, `MODIFIED existing ${b}`, `ADDED second ${c}`, `DELETED first ${d}`]);
  });

  it('a watcher that writes from its callback does not make others see events out of order', async () => {
    const seen: string[] = [];
    const writes: Array<Promise<KubeObject>> = [];
    store.watch(widgets, {}, (e) => {
      if (e.type === 'ADDED' && e.name === 'w-0') writes.push(store.update(widgets, { ...e.object, spec: { touched: true } }));
    });
    store.watch(widgets, {}, (e) => seen.push(e.resourceVersion));
    await Promise.all(Array.from({ length: 5 }, (_, i) => store.create(widgets, obj(`w-${i}`))));
    await Promise.all(writes);
    expect(seen).toHaveLength(6);
    expect(seen).toEqual([...seen].sort((a, b) => Number(a) - Number(b)));
  });

  it('commits the writes asked for before close, and refuses writes after it', async () => {
    const pending = store.create(widgets, obj('last'));
    await store.close();
    expect((await pending).metadata.name).toBe('last');
    await expect(store.create(widgets, obj('late'))).rejects.toThrow(/closed/);
    store = new SqliteStore({ path });
    expect(await store.get({ ...widgets, namespace: '', name: 'last' })).toBeDefined();
  });

  it('opens a file written before prev_labels existed', async () => {
    await store.close();
    const Database = (await import('better-sqlite3')).default;
    const old = new Database(path);
    old.exec('DROP TABLE events; CREATE TABLE events (rv INTEGER PRIMARY KEY, resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL)');
    old.exec(`INSERT INTO events VALUES (1, 'test.mortise.io/widgets', '', 'legacy', 'ADDED', '{"metadata":{"name":"legacy"}}')`);
    old.exec(`UPDATE meta SET value = 1 WHERE key = 'resourceVersion'`);
    old.close();
    store = new SqliteStore({ path });
    await store.create(widgets, obj('new', '', { labels: { a: 'b' } }));
    const names: string[] = [];
    store.watch(widgets, { sinceResourceVersion: '0' }, (e) => names.push(e.name)).stop();
    expect(names).toEqual(['legacy', 'new']);
  });

  it('watching from the current version replays nothing; a failing watcher does not break writers or other watchers', async () => {
    await store.create(widgets, obj('a'));
    const now = await store.currentResourceVersion();
    const got: string[] = [];
    const bad = store.watch(widgets, { sinceResourceVersion: now }, () => {
      throw new Error('boom');
    });
    const good = store.watch(widgets, { sinceResourceVersion: now }, (e) => got.push(e.name));
    expect(got).toEqual([]);
    await store.create(widgets, obj('b'));
    expect(got).toEqual(['b']);
    bad.stop();
    good.stop();
  });

  it('ends a watch from a resourceVersion whose history was compacted away with Expired, after watch() returned', async () => {
    const first = await store.create(widgets, obj('a'));
    for (let i = 0; i < 5; i++) await store.create(widgets, obj(`x${i}`));
    const mid = Number(await store.currentResourceVersion());
    for (let i = 0; i < 5; i++) await store.create(widgets, obj(`y${i}`));
    store.compact(mid);

    const err = await watchError(store, first.metadata.resourceVersion!);
    expect(err.reason).toBe('Expired');
    expect(err.oldestResourceVersion).toBe(String(mid + 1));
    // One before the first kept event is still fine: nothing in between was lost.
    expect((await watchError(store, mid - 1)).reason).toBe('Expired');
    const names: string[] = [];
    const w = store.watch(widgets, { sinceResourceVersion: String(mid) }, (e) => names.push(e.name), (e) => names.push(`error ${e.reason}`));
    w.stop();
    expect(names).toEqual(['y0', 'y1', 'y2', 'y3', 'y4']);

    // Everything compacted: only the current version itself is still a valid start.
    const top = Number(await store.currentResourceVersion());
    store.compact(top);
    expect((await watchError(store, top - 1)).reason).toBe('Expired');
    const none: string[] = [];
    store.watch(widgets, { sinceResourceVersion: String(top) }, (e) => none.push(e.name)).stop();
    expect(none).toEqual([]);
  });

  it('prunes history beyond eventRetention as it writes', async () => {
    await store.close();
    store = new SqliteStore({ path, eventRetention: 50 });
    const first = await store.create(widgets, obj('w0'));
    let last = first;
    for (let i = 1; i < 1100; i++) last = await store.update(widgets, { ...last, spec: { i } });
    const top = Number(await store.currentResourceVersion());
    expect((await watchError(store, first.metadata.resourceVersion!)).reason).toBe('Expired');
    // The last `eventRetention` events are still there to replay.
    const seen: number[] = [];
    store.watch(widgets, { sinceResourceVersion: String(top - 40) }, (e) => seen.push(Number(e.resourceVersion))).stop();
    expect(seen).toHaveLength(40);
    expect(seen[seen.length - 1]).toBe(top);
  });

  it('finds dependents by owner uid and owner uids that no longer exist', async () => {
    const owner = await store.create(widgets, obj('owner', 'ns1'));
    const ownerUid = owner.metadata.uid!;
    const ref = (uid: string) => ({ apiVersion: 'test.mortise.io/v1', kind: 'Widget', name: 'owner', uid });
    await store.create(gadgets, obj('dep1', 'ns1', { ownerReferences: [ref(ownerUid)] }));
    const dep2 = await store.create(widgets, obj('dep2', 'ns1', { ownerReferences: [ref(ownerUid), ref('ghost-uid')] }));
    await store.create(widgets, obj('unrelated', 'ns1'));

    const deps = await store.listDependents(ownerUid);
    expect(deps.map((d) => `${d.ref.group}/${d.ref.resource}/${d.object.metadata.name}`).sort()).toEqual([
      'test.mortise.io/gadgets/dep1', 'test.mortise.io/widgets/dep2',
    ]);
    expect(await store.danglingOwnerUids()).toEqual(['ghost-uid']);

    // Dropping the reference drops the index entry.
    await store.update(widgets, { ...dep2, metadata: { ...dep2.metadata, ownerReferences: [ref('ghost-uid')] } });
    expect((await store.listDependents(ownerUid)).map((d) => d.object.metadata.name)).toEqual(['dep1']);

    // The owner goes: its uid is now dangling too.
    await store.delete({ ...widgets, namespace: 'ns1', name: 'owner' });
    expect((await store.danglingOwnerUids()).sort()).toEqual([ownerUid, 'ghost-uid'].sort());
    // Deleting the dependents clears the index.
    await store.delete({ ...gadgets, namespace: 'ns1', name: 'dep1' });
    await store.delete({ ...widgets, namespace: 'ns1', name: 'dep2' });
    expect(await store.danglingOwnerUids()).toEqual([]);
    expect(await store.listDependents(ownerUid)).toEqual([]);
  });

  it('pages with limit/after through every object exactly once, across namespaces and within one', async () => {
    const expected: string[] = [];
    for (const ns of ['a', 'b', 'c']) {
      for (let i = 0; i < 7; i++) {
        await store.create(widgets, obj(`w${String(i).padStart(2, '0')}`, ns));
        expected.push(`${ns}/w${String(i).padStart(2, '0')}`);
      }
    }
    const pageAll = async (namespace?: string) => {
      const seen: string[] = [];
      let after: { namespace: string; name: string } | undefined;
      for (let pages = 0; pages < 50; pages++) {
        const res = await store.list(widgets, { namespace, limit: 4, after });
        expect(res.items.length).toBeLessThanOrEqual(4);
        seen.push(...res.items.map((o) => `${o.metadata.namespace}/${o.metadata.name}`));
        if (!res.last) return seen;
        expect(res.last).toEqual({ namespace: res.items[3]!.metadata.namespace, name: res.items[3]!.metadata.name });
        after = res.last;
      }
      throw new Error('paging did not end');
    };
    expect(await pageAll()).toEqual(expected);
    expect(await pageAll('b')).toEqual(expected.filter((k) => k.startsWith('b/')));
    // Without a limit: everything, ordered by namespace then name.
    expect((await store.list(widgets)).items.map((o) => `${o.metadata.namespace}/${o.metadata.name}`)).toEqual(expected);
  });
});
