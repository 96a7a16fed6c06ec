import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SqliteStore } from '../src/store/sqlite-store.js';
import { eventually, startTestCore, workspace, type TestCore } from './support/test-core.js';
import { apiFailure, mergePatch, roles, sleep, workspaces } from './support/k8s-helpers.js';

// Watches through client-node's Watch and informer against a real core over HTTPS. Exact
// event sequences are checked on a kind of a CRD made here (no controller of the core writes
// to it); workspaces, which the core's workspace controller also writes, are checked for
// order as a subsequence and through an informer.

/** A watched object; an ERROR event's object is a Status, whose code, reason and message are top-level fields. */
type Obj = { apiVersion: string; kind: string; metadata: k8s.V1ObjectMeta & { name: string }; spec?: Record<string, unknown>; status?: unknown; code?: number; reason?: string; message?: string };
type Event = { type: string; object: Obj };

interface OpenWatch {
  events: Event[];
  /** Resolves when the stream ends, with the error client-node reported (null for a clean end). */
  done: Promise<unknown>;
  ended: () => boolean;
  abort(): void;
  /** Events of objects whose names start with `prefix`, as "TYPE name". */
  seen(prefix: string): string[];
}

const wsPath = '/apis/tenant.mortise.io/v1alpha1/workspaces';
const gadgets = { group: 'watch.example.com', version: 'v1', plural: 'gadgets' } as const;
const gPath = '/apis/watch.example.com/v1/gadgets';

async function openWatch(kc: k8s.KubeConfig, path: string, query: Record<string, string | number | boolean | undefined> = {}): Promise<OpenWatch> {
  const events: Event[] = [];
  let ended = false;
  let resolveDone!: (e: unknown) => void;
  const done = new Promise<unknown>((r) => (resolveDone = r));
  const controller = await new k8s.Watch(kc).watch(path, query, (type, object) => events.push({ type, object: object as Obj }), (err) => {
    ended = true;
    resolveDone(err ?? null);
  });
  return {
    events, done, ended: () => ended,
    abort: () => controller.abort(),
    seen: (prefix) => events.filter((e) => e.object?.metadata?.name?.startsWith(prefix)).map((e) => `${e.type} ${e.object.metadata.name}`),
  };
}

describe('watch (client-node)', () => {
  let t: TestCore;
  let objects: k8s.CustomObjectsApi;
  let coreApi: k8s.CoreV1Api;
  const watches: OpenWatch[] = [];
  const watch = async (path: string, query: Record<string, string | number | boolean | undefined> = {}) => {
    const w = await openWatch(t.kubeConfig, path, query);
    watches.push(w);
    return w;
  };
  const createWs = async (name: string, labels: Record<string, string> = {}, spec: Record<string, unknown> = {}) =>
    (await objects.createClusterCustomObject({ ...workspaces, body: workspace(name, labels, spec) })) as Obj;
  const patchWs = async (name: string, body: object) => (await objects.patchClusterCustomObject({ ...workspaces, name, body }, mergePatch)) as Obj;
  const deleteWs = (name: string) => objects.deleteClusterCustomObject({ ...workspaces, name });
  const createG = async (name: string, labels: Record<string, string> = {}, spec: Record<string, unknown> = {}) =>
    (await objects.createClusterCustomObject({ ...gadgets, body: { apiVersion: 'watch.example.com/v1', kind: 'Gadget', metadata: { name, labels }, spec } })) as Obj;
  const patchG = async (name: string, body: object) => (await objects.patchClusterCustomObject({ ...gadgets, name, body }, mergePatch)) as Obj;
  const deleteG = (name: string) => objects.deleteClusterCustomObject({ ...gadgets, name });
  const listRv = async () => ((await objects.listClusterCustomObject({ ...gadgets })) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;

  beforeAll(async () => {
    t = await startTestCore({ inMemory: true, bookmarkIntervalMs: 200 });
    objects = t.kubeConfig.makeApiClient(k8s.CustomObjectsApi);
    coreApi = t.kubeConfig.makeApiClient(k8s.CoreV1Api);
    await t.kubeConfig.makeApiClient(k8s.ApiextensionsV1Api).createCustomResourceDefinition({ body: {
      metadata: { name: 'gadgets.watch.example.com' },
      spec: {
        group: 'watch.example.com', scope: 'Cluster', names: { plural: 'gadgets', singular: 'gadget', kind: 'Gadget' },
        versions: [{ name: 'v1', served: true, storage: true, subresources: { status: {} }, schema: { openAPIV3Schema: {
          type: 'object', properties: { spec: { type: 'object', x_kubernetes_preserve_unknown_fields: true }, status: { type: 'object', x_kubernetes_preserve_unknown_fields: true } },
        } } }],
      },
    } });
  });
  afterAll(async () => {
    for (const w of watches) w.abort();
    await t?.close();
  });

  it('streams ADDED, MODIFIED, DELETED in order, each with a newer resourceVersion', async () => {
    const w = await watch(gPath, { resourceVersion: await listRv() });
    const a = await createG('order-a');
    await patchG('order-a', { spec: { manager: 'm' } });
    await objects.patchClusterCustomObjectStatus({ ...gadgets, name: 'order-a', body: { status: { ready: true } } }, mergePatch);
    await createG('order-b');
    await deleteG('order-a');
    await eventually(() => w.seen('order-').length >= 5, 15_000, 'five events');
    await sleep(100);
    expect(w.seen('order-')).toEqual(['ADDED order-a', 'MODIFIED order-a', 'MODIFIED order-a', 'ADDED order-b', 'DELETED order-a']);
    const mine = w.events.filter((e) => e.object.metadata.name.startsWith('order-'));
    expect(mine[0]!.object.metadata.uid).toBe(a.metadata.uid);
    expect(mine[1]!.object.spec).toEqual({ manager: 'm' });
    expect(mine[2]!.object.status).toEqual({ ready: true });
    expect(mine[4]!.object.metadata.uid).toBe(a.metadata.uid);
    expect(mine[0]!.object.apiVersion).toBe('watch.example.com/v1');
    expect(mine[0]!.object.kind).toBe('Gadget');
    const rvs = mine.map((e) => Number(e.object.metadata.resourceVersion));
    for (let i = 1; i < rvs.length; i++) expect(rvs[i]).toBeGreaterThan(rvs[i - 1]!);
    w.abort();
  });

  it('streams workspace events in order (the workspace controller may add MODIFIED events of its own)', async () => {
    const rv = ((await objects.listClusterCustomObject({ ...workspaces })) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
    const w = await watch(wsPath, { resourceVersion: rv });
    await createWs('worder-a');
    await patchWs('worder-a', { spec: { manager: 'm' } });
    await deleteWs('worder-a');
    await eventually(() => w.seen('worder-').includes('DELETED worder-a'), 15_000, 'workspace events');
    const seen = w.seen('worder-');
    expect(seen[0]).toBe('ADDED worder-a');
    expect(seen[seen.length - 1]).toBe('DELETED worder-a');
    expect(seen.slice(1, -1).every((e) => e === 'MODIFIED worder-a')).toBe(true);
    const mine = w.events.filter((e) => e.object.metadata.name === 'worder-a');
    expect(mine.some((e) => e.type === 'MODIFIED' && e.object.spec?.manager === 'm')).toBe(true);
    const rvs = mine.map((e) => Number(e.object.metadata.resourceVersion));
    for (let i = 1; i < rvs.length; i++) expect(rvs[i]).toBeGreaterThan(rvs[i - 1]!);
    w.abort();
  });

  it('without a resourceVersion starts with ADDED for every existing object', async () => {
    await createG('init-a');
    await createG('init-b');
    const w = await watch(gPath);
    await eventually(() => w.seen('init-').length >= 2, 15_000, 'initial events');
    expect(w.seen('init-').sort()).toEqual(['ADDED init-a', 'ADDED init-b']);
    await createG('init-c');
    await eventually(() => w.seen('init-').length >= 3, 15_000, 'live event');
    expect(w.seen('init-')[2]).toBe('ADDED init-c');
    w.abort();
  });

  it("from a list's resourceVersion replays nothing old and everything new", async () => {
    await createG('rv-old1');
    await createG('rv-old2');
    const rv = await listRv();
    // Changes after the list but before the watch opens must still arrive.
    await patchG('rv-old1', { spec: { manager: 'after-list' } });
    await createG('rv-new1');
    await deleteG('rv-old2');
    const w = await watch(gPath, { resourceVersion: rv });
    await createG('rv-new2');
    await eventually(() => w.seen('rv-').length >= 4, 15_000, 'events after the list');
    await sleep(100);
    expect(w.seen('rv-')).toEqual(['MODIFIED rv-old1', 'ADDED rv-new1', 'DELETED rv-old2', 'ADDED rv-new2']);
    expect(w.events.every((e) => Number(e.object.metadata.resourceVersion) > Number(rv))).toBe(true);
    w.abort();
  });

  it('watches one namespace, or one name with a field selector', async () => {
    await coreApi.createNamespace({ body: { metadata: { name: 'watch-ns1' } } });
    await coreApi.createNamespace({ body: { metadata: { name: 'watch-ns2' } } });
    const rolesPath = (ns: string) => `/apis/iam.mortise.io/v1alpha1/namespaces/${ns}/roles`;
    const role = (ns: string, name: string) => ({ apiVersion: 'iam.mortise.io/v1alpha1', kind: 'Role', metadata: { name, namespace: ns }, rules: [] });
    const rv = await listRv();
    const rolesRv = ((await objects.listNamespacedCustomObject({ ...roles, namespace: 'watch-ns1' })) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
    const inNs1 = await watch(rolesPath('watch-ns1'), { resourceVersion: rolesRv });
    const byName = await watch(gPath, { resourceVersion: rv, fieldSelector: 'metadata.name=fs-target' });
    await objects.createNamespacedCustomObject({ ...roles, namespace: 'watch-ns2', body: role('watch-ns2', 'r-x') });
    await objects.createNamespacedCustomObject({ ...roles, namespace: 'watch-ns1', body: role('watch-ns1', 'r-y') });
    await createG('fs-other');
    await createG('fs-target');
    await patchG('fs-other', { spec: { a: 1 } });
    await patchG('fs-target', { spec: { a: 1 } });
    await eventually(() => inNs1.seen('r-').length >= 1 && byName.events.length >= 2, 15_000, 'events');
    await sleep(150);
    // The core adds built-in roles to new namespaces: every event is from watch-ns1, ours is there once.
    expect(inNs1.events.every((e) => e.object.metadata.namespace === 'watch-ns1')).toBe(true);
    expect(inNs1.seen('r-')).toEqual(['ADDED r-y']);
    expect(byName.events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED fs-target', 'MODIFIED fs-target']);
    inNs1.abort();
    byName.abort();
  });

  it('watches one object by its path (watch=true, the /watch/ prefix): another object\'s events never arrive', async () => {
    const rv = await listRv();
    const byPath = await watch(`${gPath}/path-target`, { resourceVersion: rv });
    const byPrefix = await watch('/apis/watch.example.com/v1/watch/gadgets/path-target', { resourceVersion: rv });
    // No resourceVersion: the initial events too are of that object only.
    await createG('path-other');
    await createG('path-target');
    const initial = await watch(`${gPath}/path-target`);
    await patchG('path-other', { spec: { a: 1 } });
    await patchG('path-target', { spec: { a: 1 } });
    // Events arrive in order: once the target's change is in, any other's would be too.
    await eventually(() => [byPath, byPrefix].every((w) => w.events.length >= 2) && initial.events.length >= 2, 15_000, 'events');
    for (const w of [byPath, byPrefix]) expect(w.events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED path-target', 'MODIFIED path-target']);
    expect(initial.events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED path-target', 'MODIFIED path-target']);
    // A selector naming another object than the path is refused, never widened.
    const clash = await t.api(`${gPath}/path-target?watch=1&fieldSelector=metadata.name%3Dpath-other`);
    expect(clash.status).toBe(400);
    expect(await clash.json()).toMatchObject({ kind: 'Status', code: 400, message: expect.stringContaining("doesn't match requested name") });
    // A watch is a GET: the /watch/ prefix on a write is refused.
    expect((await t.api('/apis/watch.example.com/v1/watch/gadgets', { method: 'POST', json: {} })).status).toBe(405);
    for (const w of [byPath, byPrefix, initial]) w.abort();
  });

  it('keeps a watch open whose timeoutSeconds exceeds what a timer holds (clamped), or is 0 (the default)', async () => {
    // setTimeout overflows past 2^31-1 ms and fires at once: the stream would end before any event.
    const rv = await listRv();
    const long = await Promise.all(['2147484', '99999999999999999999', '0'].map((s) => watch(gPath, { resourceVersion: rv, timeoutSeconds: s })));
    await createG('long-lived');
    await eventually(() => long.every((w) => w.seen('long-').length === 1), 15_000, 'the event on every watch');
    for (const w of long) {
      expect(w.ended()).toBe(false);
      w.abort();
    }
  });

  it('turns a label change that leaves a label-selector watch into DELETED and one that enters into ADDED', async () => {
    const w = await watch(gPath, { resourceVersion: await listRv(), labelSelector: 'watched=yes' });
    await createG('lbl-a', { watched: 'no' });
    await createG('lbl-b', { watched: 'yes' });
    await patchG('lbl-a', { metadata: { labels: { watched: 'yes' } } }); // enters
    await patchG('lbl-a', { spec: { manager: 'x' } }); // stays in
    await patchG('lbl-b', { metadata: { labels: { watched: null } } }); // leaves
    await patchG('lbl-b', { spec: { manager: 'y' } }); // outside: nothing
    await deleteG('lbl-b'); // outside: nothing
    await deleteG('lbl-a'); // inside: DELETED
    await eventually(() => w.seen('lbl-').length >= 5, 15_000, 'label events');
    await sleep(150);
    expect(w.seen('lbl-')).toEqual(['ADDED lbl-b', 'ADDED lbl-a', 'MODIFIED lbl-a', 'DELETED lbl-b', 'DELETED lbl-a']);
    // The DELETED for leaving carries the last state inside the selection (with the label) at the
    // leaving write's resourceVersion, as kube-apiserver sends it (conformance.test.ts checks both).
    const left = w.events.find((e) => e.type === 'DELETED' && e.object.metadata.name === 'lbl-b')!;
    expect(left.object.metadata.labels?.watched).toBe('yes');
    const lastIn = w.events.filter((e) => e.object.metadata.name === 'lbl-b').at(-2)!;
    expect(Number(left.object.metadata.resourceVersion)).toBeGreaterThan(Number(lastIn.object.metadata.resourceVersion));
    w.abort();
  });

  it('replays label transitions correctly when watching from an older resourceVersion', async () => {
    const rv = await listRv();
    await createG('rlbl-a', { watched: 'no' });
    await patchG('rlbl-a', { metadata: { labels: { watched: 'yes' } } }); // enters
    await patchG('rlbl-a', { spec: { x: 1 } }); // stays
    await patchG('rlbl-a', { metadata: { labels: { watched: 'no' } } }); // leaves
    await patchG('rlbl-a', { spec: { x: 2 } }); // outside
    const w = await watch(gPath, { resourceVersion: rv, labelSelector: 'watched=yes' });
    await eventually(() => w.seen('rlbl-').length >= 3, 15_000, 'replayed label events');
    await sleep(150);
    expect(w.seen('rlbl-')).toEqual(['ADDED rlbl-a', 'MODIFIED rlbl-a', 'DELETED rlbl-a']);
    w.abort();
  });

  it('answers a compacted resourceVersion with an ERROR event carrying a 410 Status', async () => {
    const old = await listRv();
    await createG('gone-a');
    await createG('gone-b');
    const store = t.core.store as SqliteStore;
    store.compact(Number(await store.currentResourceVersion()));
    await createG('gone-c');

    const w = await watch(gPath, { resourceVersion: old });
    const err = await w.done;
    expect(err).toBeNull();
    expect(w.events).toHaveLength(1);
    const [e] = w.events;
    expect(e!.type).toBe('ERROR');
    expect(e!.object).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 410, reason: 'Expired' });
    expect(e!.object.message).toMatch(/too old resource version/);

    // The resourceVersion of a fresh list still works.
    const w2 = await watch(gPath, { resourceVersion: await listRv() });
    await createG('gone-d');
    await eventually(() => w2.seen('gone-').length >= 1, 15_000, 'event after relist');
    expect(w2.seen('gone-')).toEqual(['ADDED gone-d']);
    w2.abort();
  });

  it('answers 410 once enough writes have pruned the history beyond eventRetention', async () => {
    const small = await startTestCore({ inMemory: true, eventRetention: 20 });
    try {
      const groupsPath = '/apis/iam.mortise.io/v1alpha1/groups';
      const created = await small.api(groupsPath, { method: 'POST', json: { apiVersion: 'iam.mortise.io/v1alpha1', kind: 'Group', metadata: { name: 'churn' } } });
      expect(created.status).toBe(201);
      const from = ((await created.json()) as Obj).metadata.resourceVersion!;
      // The store prunes every 1000 writes: write past that, 25 requests at a time.
      for (let i = 0; i < 1050; i += 25) {
        await Promise.all(Array.from({ length: 25 }, async (_, j) => {
          const res = await small.api(`${groupsPath}/churn`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ metadata: { annotations: { n: String(i + j) } } }) });
          expect(res.status).toBe(200);
        }));
      }
      const gone = await openWatch(small.kubeConfig, groupsPath, { resourceVersion: from });
      await gone.done;
      expect(gone.events.map((e) => [e.type, e.object.code, e.object.reason])).toEqual([['ERROR', 410, 'Expired']]);
      // A recent version is still within the kept history.
      const recent = String(Number(await small.core.store.currentResourceVersion()) - 5);
      const ok = await openWatch(small.kubeConfig, groupsPath, { resourceVersion: recent });
      await eventually(() => ok.events.length >= 5, 15_000, 'replay of the kept history');
      expect(ok.events.every((e) => e.type === 'MODIFIED')).toBe(true);
      ok.abort();
    } finally {
      await small.close();
    }
  });

  it('sends BOOKMARK events only when allowWatchBookmarks=true', async () => {
    await createG('bm-a');
    const rv = await listRv();
    const withBm = await watch(gPath, { resourceVersion: rv, allowWatchBookmarks: true });
    const without = await watch(gPath, { resourceVersion: rv });
    await createG('bm-b');
    await eventually(() => withBm.events.filter((e) => e.type === 'BOOKMARK').length >= 2, 15_000, 'bookmarks');
    const bookmarks = withBm.events.filter((e) => e.type === 'BOOKMARK');
    for (const b of bookmarks) {
      expect(b.object.kind).toBe('Gadget');
      expect(b.object.apiVersion).toBe('watch.example.com/v1');
      expect(Number(b.object.metadata.resourceVersion)).toBeGreaterThanOrEqual(Number(rv));
    }
    // A bookmark never goes back in time, and is at least the version of an event delivered before it.
    const added = withBm.events.findIndex((e) => e.type === 'ADDED' && e.object.metadata.name === 'bm-b');
    const later = withBm.events.slice(added + 1).find((e) => e.type === 'BOOKMARK');
    expect(Number(later!.object.metadata.resourceVersion)).toBeGreaterThanOrEqual(Number(withBm.events[added]!.object.metadata.resourceVersion));
    const bmRvs = bookmarks.map((b) => Number(b.object.metadata.resourceVersion));
    for (let i = 1; i < bmRvs.length; i++) expect(bmRvs[i]).toBeGreaterThanOrEqual(bmRvs[i - 1]!);
    expect(without.events.filter((e) => e.type === 'BOOKMARK')).toEqual([]);
    expect(without.seen('bm-')).toEqual(['ADDED bm-b']);
    withBm.abort();
    without.abort();
  });

  it('ends the stream after timeoutSeconds', async () => {
    const started = Date.now();
    const w = await watch(gPath, { resourceVersion: await listRv(), timeoutSeconds: 1 });
    expect(await w.done).toBeNull();
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(6000);
  });

  it('refuses a bad watch before streaming: invalid selector or resourceVersion (400)', async () => {
    const bad = async (q: string) => {
      const res = await t.api(`${wsPath}?watch=true&${q}`);
      expect(res.status).toBe(400);
      const body = (await res.json()) as { kind: string; code: number; message: string };
      expect(body).toMatchObject({ kind: 'Status', code: 400 });
      return body.message;
    };
    expect(await bad('labelSelector=a%20in%20(b')).toMatch(/unable to parse/);
    expect(await bad('resourceVersion=abc')).toMatch(/resource version/);
    expect(await bad('timeoutSeconds=soon')).toMatch(/timeoutSeconds/);
    expect(await bad('timeoutSeconds=-1')).toMatch(/timeoutSeconds must be a non-negative integer/);
    expect(await bad('timeoutSeconds=1.5')).toMatch(/timeoutSeconds/);
    expect(await bad('timeoutSeconds=1e3')).toMatch(/timeoutSeconds/);
  });

  it('keeps a makeInformer cache equal to the server list through creates, updates, deletes and a 410', async () => {
    const listFn = () => objects.listClusterCustomObject({ ...workspaces }) as Promise<k8s.KubernetesListObject<Obj & k8s.KubernetesObject>>;
    const informer = k8s.makeInformer(t.kubeConfig, wsPath, listFn);
    const errors: unknown[] = [];
    informer.on('error', (e) => errors.push(e));
    await informer.start();
    const snapshot = (items: ReadonlyArray<Obj | k8s.KubernetesObject>) => items.map((o) => `${o.metadata!.name}@${o.metadata!.resourceVersion}`).sort();
    const serverItems = async () => ((await listFn()) as unknown as { items: Obj[] }).items;
    const inSync = () => eventually(async () => {
      const server = snapshot(await serverItems());
      const cache = snapshot(informer.list());
      return JSON.stringify(server) === JSON.stringify(cache) ? server : undefined;
    }, 15_000, 'informer cache to match the server');

    try {
      await inSync();
      for (let i = 0; i < 5; i++) await createWs(`inf-${i}`, { i: String(i) });
      await inSync();
      await patchWs('inf-1', { spec: { manager: 'updated' } });
      await objects.patchClusterCustomObjectStatus({ ...workspaces, name: 'inf-2', body: { status: { conditions: [{ type: 'Ready', status: 'True' }] } } }, mergePatch);
      await deleteWs('inf-3');
      await inSync();
      expect(informer.get('inf-1')).toMatchObject({ spec: { manager: 'updated' } });
      expect(informer.get('inf-2')).toMatchObject({ status: { conditions: [{ type: 'Ready', status: 'True' }] } });
      expect(informer.get('inf-3')).toBeUndefined();

      // The server drops the watch history and ends the stream: the informer re-watches, gets
      // 410, relists and converges again, including changes made while it was away.
      const store = t.core.store as SqliteStore;
      await coreApi.createNamespace({ body: { metadata: { name: 'inf-bump' } } });
      await deleteWs('inf-4');
      await createWs('inf-9');
      store.compact(Number(await store.currentResourceVersion()));
      await t.core.watches.closeAll();
      await inSync();
      expect(informer.get('inf-4')).toBeUndefined();
      expect(informer.get('inf-9')).toBeDefined();
      await createWs('inf-10');
      await inSync();
      expect(errors).toEqual([]);
    } finally {
      await informer.stop();
    }
  });

  it('ends open watches cleanly when the core closes', async () => {
    const other = await startTestCore({ inMemory: true });
    const w = await openWatch(other.kubeConfig, wsPath);
    const w2 = await openWatch(other.kubeConfig, wsPath, { allowWatchBookmarks: true });
    const otherObjects = other.kubeConfig.makeApiClient(k8s.CustomObjectsApi);
    await otherObjects.createClusterCustomObject({ ...workspaces, body: workspace('closing-a') });
    await eventually(() => w.seen('closing-').length >= 1, 15_000, 'event before close');
    expect(other.core.watches.size).toBe(2);
    const started = Date.now();
    await other.close();
    // Open watches neither hold the shutdown until its 10 s deadline nor end with an error.
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await w.done).toBeNull();
    expect(await w2.done).toBeNull();
    expect(w.ended() && w2.ended()).toBe(true);
    expect(other.core.watches.size).toBe(0);
    // And the server is really gone.
    await expect(apiFailure(otherObjects.listClusterCustomObject({ ...workspaces }))).rejects.toThrow();
  });
});
