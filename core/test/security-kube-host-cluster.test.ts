import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient } from '../src/store/kube/kube-client.js';
import { startKubeCluster, type KubeCluster } from './support/kube-cluster.js';
import { eventually, startTestCore, type TestCore } from './support/test-core.js';
import { tenantsOf } from './support/tenants.js';

// Security, kubernetes mode, against a real kube-apiserver v1.20.2 + etcd (scripts/kube-apiserver.mjs):
// /clusters/host/<path> is authorized by Mortise's RBAC on the path's segments, each decoded once,
// then passed on to the cluster; with MORTISE_HOST_CLUSTER_IDENTITY=core the cluster acts with the
// core's rights. A path whose segments become others once decoded and resolved (%2e%2e, a raw
// "..", an encoded or raw "\" or "/") was authorized in one namespace and served from another:
// the URL parser on the way resolved "%2e%2e" and read "\" as "/". Such paths are now refused
// (400), and the path is passed on byte for byte.

const kapis = '/kapis/tenant.mortise.io/v1alpha1';

describe('/clusters/host with the core identity serves only the path authorized', () => {
  let cluster: KubeCluster;
  let t: TestCore;
  const { tokens, as, created, addUsers, addWorkspaces } = tenantsOf(() => t);
  /** A GET with the path exactly as written (fetch would resolve dot segments itself). */
  const raw = (u: string, path: string) => new Promise<{ status: number; body: string }>((resolve, reject) => {
    const { hostname, port } = new URL(t.url);
    const req = httpRequest({ host: hostname, port, path, headers: { authorization: `Bearer ${tokens[u]}`, accept: 'application/json' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });

  beforeAll(async () => {
    cluster = await startKubeCluster();
    t = await startTestCore({ inMemory: true, mode: 'kubernetes', kubeconfig: cluster.kubeconfigPath, namespace: 'mortise-system', hostClusterIdentity: 'core' });
    await addUsers('alice', 'bob');
    // 60 s: on a loaded machine (a CI run's first minute, two kube-apiservers) 30 s ran out once.
    await addWorkspaces({ wsa: 'alice', wsb: 'bob' }, 60_000);
    await created(`${kapis}/workspaces/wsa/namespaces`, { metadata: { name: 'a' } }, 'alice');
    await created(`${kapis}/workspaces/wsb/namespaces`, { metadata: { name: 'b' } }, 'bob');
    await eventually(async () => (await as('bob')('/api/v1/namespaces/b/secrets')).status === 200, 30_000, 'bob in b');
    await created('/api/v1/namespaces/b/secrets', { metadata: { name: 's' }, stringData: { password: 'bobs-password' } }, 'bob');
    await eventually(async () => (await as('alice')('/clusters/host/api/v1/namespaces/a/secrets')).status === 200, 30_000, 'alice in a');
  }, 180_000);
  afterAll(async () => {
    await t?.close();
    await cluster?.stop();
  }, 60_000);

  it('refuses (400) dot segments in any spelling, hidden separators and empty segments, and forwards nothing of b', async () => {
    // What alice may and may not do, through the same route.
    expect((await raw('alice', '/clusters/host/api/v1/namespaces/a/secrets')).status).toBe(200);
    expect((await raw('alice', '/clusters/host/api/v1/namespaces/b/secrets/s')).status).toBe(403);
    for (const path of [
      '/clusters/host/api/v1/namespaces/a/secrets/%2e%2e/%2e%2e/b/secrets/s',
      '/clusters/host/api/v1/namespaces/a/secrets/%2E%2e/.%2E/b/secrets/s',
      '/clusters/host/api/v1/namespaces/a/secrets/../../b/secrets/s',
      '/clusters/host/api/v1/namespaces/a/secrets/x/%2e/%2e%2e/%2e%2e/b/secrets/s',
      '/clusters/host/api/v1/namespaces/a/secrets/x%2F..%2F..%2Fb%2Fsecrets%2Fs',
      '/clusters/host/api/v1/namespaces/a/secrets/x%2f..%2f..%2fb%2fsecrets%2fs',
      '/clusters/host/api/v1/namespaces/a/secrets/x%5C..%5C..%5Cb%5Csecrets%5Cs',
      '/clusters/host/api/v1/namespaces/a/secrets/x\\..\\..\\b\\secrets\\s',
      // Empty segments: skipped when authorized, counted by the cluster.
      '/clusters/host/api/v1/namespaces/a//secrets',
      '/clusters/host/api//v1/namespaces/a/secrets/s',
    ]) {
      const res = await raw('alice', path);
      expect(res.body, path).not.toContain('bobs-password');
      expect(res.body, path).not.toContain(Buffer.from('bobs-password').toString('base64'));
      expect(res.status, `${path}: ${res.body}`).toBe(400);
      expect(JSON.parse(res.body)).toMatchObject({ kind: 'Status', code: 400, reason: 'BadRequest' });
    }
    // A name with escapes that hide nothing still reaches the cluster, decoded there as authorized.
    const encoded = await raw('alice', '/clusters/host/api/v1/namespaces/a/secrets/%73');
    expect(encoded.status, encoded.body).toBe(404);
    expect(JSON.parse(encoded.body)).toMatchObject({ reason: 'NotFound', details: { name: 's', kind: 'secrets' } });
  });
});

describe('KubeClient.forward', () => {
  it('sends the path and query byte for byte (no URL parser resolving %2e%2e, turning "\\" into "/" or re-encoding)', async () => {
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(req.url!);
      res.end('{}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    // A server URL with a path (a proxy in front of the API server): the forwarded path follows it.
    const client = await KubeClient.connect({ kubeconfigText: JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'c',
      clusters: [{ name: 'c', cluster: { server: `http://127.0.0.1:${port}/k8s/`, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'u', user: { token: 'token' } }],
      contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
    }) });
    try {
      const sent = "/api/v1/namespaces/a/secrets/%2e%2e/x\\y/{z}?fieldSelector=metadata.name%3Dn&q='%2F";
      const res = await client.forward('GET', sent, {});
      await res.body.text();
      expect(seen).toEqual([`/k8s${sent}`]);
    } finally {
      await client.close();
      server.close();
    }
  });
});
