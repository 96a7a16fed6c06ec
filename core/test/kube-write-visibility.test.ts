import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect, createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient } from '../src/store/kube/kube-client.js';
import { KubeStore } from '../src/store/kube/kube-store.js';
import type { KubeObject, ResourceRef, StoreEvent, Watcher } from '../src/store/resource-store.js';
import { startKubeCluster, type KubeCluster } from './support/kube-cluster.js';
import { eventually } from './support/test-core.js';

// The cluster's store returns a write once the core's caches (watches marked `cache`) have its
// event, as the embedded store does by delivering events at commit (store/kube/write-visibility.ts).
// Against a real kube-apiserver v1.20.2 + etcd: its watch brings an event a few milliseconds after
// the write's answer, so without the wait none of the checks below would hold.

const configmaps: ResourceRef = { group: '', resource: 'configmaps' };
const internal: ResourceRef = { group: 'internal.test', resource: 'things' };
const coreNamespace = 'mortise-visibility';

/** A watch and what it has been delivered so far, by namespace/name. */
function cacheOf(store: KubeStore, ref: ResourceRef, opts: { namespace?: string; cache?: boolean } = {}) {
  const objects = new Map<string, { type: StoreEvent['type']; object: KubeObject }>();
  const watcher: Watcher = store.watch(ref, { ...opts, cache: opts.cache ?? true }, (e) => objects.set(`${e.namespace}/${e.name}`, { type: e.type, object: e.object }));
  return { objects, watcher };
}

const configMap = (namespace: string, name: string, data: Record<string, string> = {}, extra: Partial<KubeObject['metadata']> = {}): KubeObject =>
  ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace, ...extra }, data }) as KubeObject;

describe('writes in kubernetes mode return once the core\'s caches have them', () => {
  let cluster: KubeCluster;
  /**
   * Its writes wait up to two minutes for a cache (the tests time out after one): a write waiting for an event that never comes (the
   * wrong version, the wrong cache) times its test out instead of passing late.
   */
  let store: KubeStore;

  const connect = async (cacheWaitMs?: number) => new KubeStore({
    client: await KubeClient.connect({ kubeconfig: cluster.kubeconfigPath }),
    servedAs: (ref) => (ref.group === '' ? { version: 'v1', namespaced: ref.resource !== 'namespaces', status: ref.resource === 'namespaces' } : undefined),
    internalGroup: internal.group, namespace: coreNamespace, ...(cacheWaitMs ? { cacheWaitMs } : {}),
  });

  beforeAll(async () => {
    cluster = await startKubeCluster();
    for (const ns of [coreNamespace, 'vis-a', 'vis-b']) expect((await cluster.api('POST', '/api/v1/namespaces', { metadata: { name: ns } })).status).toBe(201);
    store = await connect(120_000);
  }, 180_000);

  afterAll(async () => {
    await store?.close();
    await cluster?.stop();
  }, 60_000);

  it('has the create, the update and the delete in the cache when each returns', async () => {
    const { objects, watcher } = cacheOf(store, configmaps, { namespace: 'vis-a' });
    try {
      // The watch starts from the current version: give it a moment to be under way.
      await new Promise((r) => setTimeout(r, 300));
      for (let i = 0; i < 10; i++) {
        const created = await store.create(configmaps, configMap('vis-a', `cm-${i}`, { n: '0' }));
        expect(objects.get(`vis-a/cm-${i}`)?.object.metadata.resourceVersion).toBe(created.metadata.resourceVersion);
        const updated = await store.update(configmaps, { ...created, data: { n: '1' } });
        expect(objects.get(`vis-a/cm-${i}`)?.object.metadata.resourceVersion).toBe(updated.metadata.resourceVersion);
        await store.delete({ ...configmaps, namespace: 'vis-a', name: `cm-${i}` });
        expect(objects.get(`vis-a/cm-${i}`)?.type).toBe('DELETED');
      }
    } finally {
      watcher.stop();
    }
  });

  it('returns an update that changes nothing at once: the cluster writes nothing and sends no event', async () => {
    const { watcher } = cacheOf(store, configmaps, { namespace: 'vis-a' });
    try {
      await new Promise((r) => setTimeout(r, 300));
      const created = await store.create(configmaps, configMap('vis-a', 'same', { n: '0' }));
      const again = await store.update(configmaps, created);
      expect(again.metadata.resourceVersion).toBe(created.metadata.resourceVersion);
    } finally {
      watcher.stop();
    }
  });

  it('has a deletion held by a finalizer (the object marked) in the cache when the delete returns', async () => {
    const { objects, watcher } = cacheOf(store, configmaps, { namespace: 'vis-a' });
    try {
      await new Promise((r) => setTimeout(r, 300));
      await store.create(configmaps, configMap('vis-a', 'held', {}, { finalizers: ['mortise.io/test-hold'] }));
      const { pending } = await store.deleteObject({ ...configmaps, namespace: 'vis-a', name: 'held' });
      expect(pending).toBe(true);
      expect(objects.get('vis-a/held')?.object.metadata.deletionTimestamp).toBeTruthy();
      const marked = (await store.get({ ...configmaps, namespace: 'vis-a', name: 'held' }))!;
      await store.update(configmaps, { ...marked, metadata: { ...marked.metadata, finalizers: [] } });
      expect(objects.get('vis-a/held')?.type).toBe('DELETED');
    } finally {
      watcher.stop();
    }
  });

  it('has the core\'s internal objects (kept in Secrets) in the cache when their writes return', async () => {
    const { objects, watcher } = cacheOf(store, internal);
    try {
      await new Promise((r) => setTimeout(r, 300));
      const created = await store.create(internal, { apiVersion: 'internal.test/v1', kind: 'Thing', metadata: { name: 'one' } } as KubeObject);
      expect(objects.get('/one')?.object.metadata.resourceVersion).toBe(created.metadata.resourceVersion);
      await store.delete({ ...internal, namespace: '', name: 'one' });
      expect(objects.get('/one')?.type).toBe('DELETED');
    } finally {
      watcher.stop();
    }
  });

  it('resumes a watch of the core\'s own (no onError: a cache, a controller) when its connection breaks, missing nothing', async () => {
    // The store reaches the API server through a TCP relay the test can cut.
    const relayed = new Set<Socket>();
    const upstream = new URL(cluster.server);
    const relay = createServer((c) => {
      const u = tcpConnect(Number(upstream.port), upstream.hostname);
      relayed.add(c).add(u);
      const drop = () => { c.destroy(); u.destroy(); relayed.delete(c); relayed.delete(u); };
      c.on('error', drop).on('close', drop);
      u.on('error', drop).on('close', drop);
      c.pipe(u).pipe(c);
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    const relayDir = mkdtempSync(join(tmpdir(), 'mortise-relay-'));
    const kubeconfig = join(relayDir, 'kubeconfig');
    writeFileSync(kubeconfig, readFileSync(cluster.kubeconfigPath, 'utf8').split(cluster.server).join(`https://127.0.0.1:${(relay.address() as AddressInfo).port}`));
    const relayedStore = new KubeStore({
      client: await KubeClient.connect({ kubeconfig }),
      servedAs: (ref) => (ref.group === '' ? { version: 'v1', namespaced: ref.resource !== 'namespaces', status: false } : undefined),
      internalGroup: internal.group, namespace: coreNamespace, watchRetryMaxMs: 200,
    });
    const { objects, watcher } = cacheOf(relayedStore, configmaps, { namespace: 'vis-b', cache: false });
    const arrived = (name: string) => eventually(() => objects.has(`vis-b/${name}`), 10_000, `${name} through the resumed watch`);
    try {
      await new Promise((r) => setTimeout(r, 300));
      expect((await cluster.api('POST', '/api/v1/namespaces/vis-b/configmaps', configMap('vis-b', 'before-cut'))).status).toBe(201);
      await arrived('before-cut');
      // Cut every connection, and write while the watch is down: its event must still come.
      for (const sock of relayed) sock.destroy();
      expect((await cluster.api('POST', '/api/v1/namespaces/vis-b/configmaps', configMap('vis-b', 'during-cut'))).status).toBe(201);
      expect((await cluster.api('DELETE', '/api/v1/namespaces/vis-b/configmaps/before-cut')).status).toBe(200);
      await arrived('during-cut');
      await eventually(() => objects.get('vis-b/before-cut')?.type === 'DELETED', 10_000, 'the delete made while the watch was down');
      // Cut again, and again: it keeps resuming.
      for (let i = 0; i < 2; i++) {
        for (const sock of relayed) sock.destroy();
        expect((await cluster.api('POST', '/api/v1/namespaces/vis-b/configmaps', configMap('vis-b', `after-cut-${i}`))).status).toBe(201);
        await arrived(`after-cut-${i}`);
      }
    } finally {
      watcher.stop();
      await relayedStore.close();
      relay.close();
      for (const sock of relayed) sock.destroy();
      rmSync(relayDir, { recursive: true, force: true });
    }
  });

  it('does not hold a write for a cache of another namespace, a watch that is no cache, or a cache stopped', async () => {
    // Each would hold the write for two minutes if it were waited for.
    const other = cacheOf(store, configmaps, { namespace: 'vis-b' });
    const plain = cacheOf(store, configmaps, { cache: false });
    const stopped = cacheOf(store, configmaps);
    await new Promise((r) => setTimeout(r, 300));
    stopped.watcher.stop();
    try {
      const started = Date.now();
      for (let i = 0; i < 5; i++) await store.create(configmaps, configMap('vis-a', `free-${i}`));
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      other.watcher.stop();
      plain.watcher.stop();
    }
  });
});
