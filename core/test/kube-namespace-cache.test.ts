import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKubeCluster, type KubeCluster } from './support/kube-cluster.js';
import { eventually, startTestCore, type TestCore } from './support/test-core.js';

// In the kubernetes mode a namespaced create checks its namespace is live (exists, is not being
// deleted) from a watch-fed cache of the cluster's namespaces, not with a read per create. Against
// a real kube-apiserver v1.20.2 + etcd + controller manager (scripts/kube-apiserver.mjs).

describe('the live-namespace check of creates in kubernetes mode', () => {
  let cluster: KubeCluster;
  let t: TestCore;
  const configMap = (ns: string, name: string) => t.api(`/api/v1/namespaces/${ns}/configmaps`, { method: 'POST', json: { metadata: { name }, data: { k: 'v' } } });
  /** GETs of one namespace the kube-apiserver has answered, from its own metrics. */
  const namespaceReads = async () => {
    const { body } = await cluster.api('GET', '/metrics');
    let n = 0;
    for (const line of String(body).split('\n')) {
      if (line.startsWith('apiserver_request_total{') && line.includes('resource="namespaces"') && line.includes('verb="GET"') && line.includes('scope="resource"')) {
        n += Number(line.slice(line.lastIndexOf(' ') + 1));
      }
    }
    return n;
  };

  beforeAll(async () => {
    cluster = await startKubeCluster();
    t = await startTestCore({ mode: 'kubernetes', kubeconfig: cluster.kubeconfigPath, namespace: 'mortise-system' });
  }, 180_000);
  afterAll(async () => {
    await t?.close();
    await cluster?.stop();
  }, 60_000);

  it('finds a namespace created a moment ago, through the core or straight in the cluster', async () => {
    expect((await t.api('/api/v1/namespaces', { method: 'POST', json: { metadata: { name: 'fresh-core' } } })).status).toBe(201);
    expect((await configMap('fresh-core', 'first')).status).toBe(201);
    expect((await cluster.api('POST', '/api/v1/namespaces', { metadata: { name: 'fresh-direct' } })).status).toBe(201);
    expect((await configMap('fresh-direct', 'first')).status).toBe(201);
    const missing = await configMap('never-made', 'x');
    expect(missing.status).toBe(404);
  });

  it('reads no namespace from the cluster per create once its cache is filled', async () => {
    expect((await t.api('/api/v1/namespaces', { method: 'POST', json: { metadata: { name: 'busy' } } })).status).toBe(201);
    let i = 0;
    await eventually(async () => {
      const before = await namespaceReads();
      for (let k = 0; k < 10; k++) expect((await configMap('busy', `cm-${i++}`)).status).toBe(201);
      return (await namespaceReads()) === before;
    }, 20_000, '10 creates without a namespace read');
  });

  it('refuses creates in a namespace being deleted, and in one deleted, with the embedded mode\'s Status', async () => {
    expect((await t.api('/api/v1/namespaces', { method: 'POST', json: { metadata: { name: 'leaving' } } })).status).toBe(201);
    // A finalizer on an object inside keeps the namespace Terminating until it is removed.
    expect((await cluster.api('POST', '/api/v1/namespaces/leaving/configmaps', { metadata: { name: 'held', finalizers: ['mortise.io/test-hold'] } })).status).toBe(201);
    expect((await t.api('/api/v1/namespaces/leaving', { method: 'DELETE' })).status).toBe(200);
    // Right away (the cache may not have seen the deletion yet: the cluster refuses then) and later.
    for (let round = 0; round < 2; round++) {
      const refused = await configMap('leaving', `late-${round}`);
      expect(refused.status).toBe(403);
      expect(((await refused.json()) as { message: string }).message).toBe('unable to create new content in namespace leaving because it is being terminated');
      await new Promise((r) => setTimeout(r, 500));
    }
    expect((await cluster.api('PATCH', '/api/v1/namespaces/leaving/configmaps/held', { metadata: { finalizers: null } }, 'application/merge-patch+json')).status).toBe(200);
    await eventually(async () => (await cluster.api('GET', '/api/v1/namespaces/leaving')).status === 404, 60_000, 'the namespace gone');
    expect((await configMap('leaving', 'after')).status).toBe(404);
  }, 120_000);
});
