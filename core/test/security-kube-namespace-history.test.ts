import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKubeCluster, type KubeCluster } from './support/kube-cluster.js';
import { eventually, startTestCore, type TestCore } from './support/test-core.js';
import { readWithin } from './support/streams.js';
import { tenantsOf } from './support/tenants.js';

// Security, kubernetes mode, against a real kube-apiserver v1.20.2 + etcd (scripts/kube-apiserver.mjs):
// the cluster replays history (watch, or a list at an exact resourceVersion) within its
// compaction window, whichever namespace of a name it was. A namespace name reused — deleted by
// one tenant, created again by another — and the new owner's watch from an old resourceVersion
// through the core replayed the old tenant's Secrets, values and all; so did /clusters/host with
// the core's identity. History from before the namespace was created is 410 Expired, as in the
// embedded mode (security-namespace-history.test.ts).

const kapis = '/kapis/tenant.mortise.io/v1alpha1';
const bobsValue = Buffer.from('bobs-password').toString('base64');

describe('a watch never replays an earlier namespace of the same name (kubernetes mode)', () => {
  let cluster: KubeCluster;
  let t: TestCore;
  const { as, created, addUsers, addWorkspaces } = tenantsOf(() => t);

  /** What a request answers within `ms` (a watch is then aborted). */
  const read = (u: string, path: string, ms = 1500) => readWithin((signal) => as(u)(path, { signal }), ms);
  const events = (text: string) => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; object: { kind?: string; code?: number; reason?: string; metadata?: { name: string } } });

  beforeAll(async () => {
    cluster = await startKubeCluster();
    t = await startTestCore({ inMemory: true, mode: 'kubernetes', kubeconfig: cluster.kubeconfigPath, namespace: 'mortise-system', hostClusterIdentity: 'core' });
    await addUsers('alice', 'bob');
    // 60 s: on a loaded machine (a CI run's first minute, two kube-apiservers) 30 s ran out once.
    await addWorkspaces({ wsa: 'alice', wsb: 'bob' }, 60_000);
  }, 180_000);
  afterAll(async () => {
    await t?.close();
    await cluster?.stop();
  }, 60_000);

  it('answers 410 for history from before the namespace was created, through the core and /clusters/host, and replays its own', async () => {
    await created(`${kapis}/workspaces/wsb/namespaces`, { metadata: { name: 'reused' } }, 'bob');
    await eventually(async () => (await as('bob')('/api/v1/namespaces/reused/secrets')).status === 200, 30_000, 'bob in reused');
    const old = (await created('/api/v1/namespaces/reused/secrets', { metadata: { name: 'bobs-secret' }, stringData: { password: 'bobs-password' } }, 'bob')).metadata.resourceVersion;
    expect((await as('bob')('/api/v1/namespaces/reused', { method: 'DELETE' })).status).toBe(200);
    await eventually(async () => (await cluster.api('GET', '/api/v1/namespaces/reused')).status === 404, 60_000, 'namespace gone');

    await created(`${kapis}/workspaces/wsa/namespaces`, { metadata: { name: 'reused' } }, 'alice');
    await eventually(async () => (await as('alice')('/api/v1/namespaces/reused/secrets')).status === 200, 30_000, 'alice in reused');
    // A crafted continue token carries a resourceVersion too (the cluster lists at it).
    const token = Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: Number(old), start: '/0' })).toString('base64url');
    // Go's JSON decoder matches keys in any case.
    const shouted = Buffer.from(JSON.stringify({ V: 'meta.k8s.io/v1', RV: Number(old), START: '/0' })).toString('base64url');
    for (const path of [
      `/api/v1/namespaces/reused/secrets?watch=1&resourceVersion=${old}`,
      `/api/v1/namespaces/reused/secrets?watch=1&resourceVersion=${old}&fieldSelector=metadata.name%3Dbobs-secret`,
      `/api/v1/namespaces/reused/secrets?limit=10&continue=${token}`,
      `/clusters/host/api/v1/namespaces/reused/secrets?watch=1&resourceVersion=${old}`,
      `/clusters/host/api/v1/watch/namespaces/reused/secrets?resourceVersion=${old}`,
      `/clusters/host/api/v1/namespaces/reused/secrets?resourceVersion=${old}&resourceVersionMatch=Exact`,
      `/clusters/host/api/v1/namespaces/reused/secrets?resourceVersion=${old}&limit=10`,
      `/clusters/host/api/v1/namespaces/reused/secrets?limit=10&continue=${token}`,
      `/clusters/host/api/v1/namespaces/reused/secrets?continue=${shouted}`,
    ]) {
      const { status, text } = await read('alice', path);
      expect(text, path).not.toContain('bobs-secret');
      expect(text, path).not.toContain(bobsValue);
      const status410 = status === 410 ? (JSON.parse(text) as { code: number; reason: string }) : events(text)[0]?.object;
      expect(status410, `${path}: ${status} ${text}`).toMatchObject({ code: 410, reason: 'Expired' });
    }

    // From a version of this namespace's own life, the replay is as always.
    const { metadata } = (await (await as('alice')('/api/v1/namespaces/reused/secrets')).json()) as { metadata: { resourceVersion: string } };
    await created('/api/v1/namespaces/reused/secrets', { metadata: { name: 'alices-secret' }, stringData: { k: 'alice' } }, 'alice');
    for (const prefix of ['', '/clusters/host']) {
      const own = events((await read('alice', `${prefix}/api/v1/namespaces/reused/secrets?watch=1&resourceVersion=${metadata.resourceVersion}`)).text);
      expect(own.map((e) => `${e.type} ${e.object.metadata?.name}`), prefix).toEqual(['ADDED alices-secret']);
    }
    const exact = await read('alice', `/clusters/host/api/v1/namespaces/reused/secrets?resourceVersion=${metadata.resourceVersion}&resourceVersionMatch=Exact`);
    expect(exact.status, exact.text).toBe(200);
  }, 120_000);
});
