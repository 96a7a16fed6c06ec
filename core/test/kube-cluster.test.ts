import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChildCore, type ChildCore } from './support/child-core.js';
import { KubernetesRuntime, defaultRunnerImage } from '../src/runtime/kubernetes-runtime.js';
import { KubeClient } from '../src/store/kube/kube-client.js';
import { createLogger } from '../src/ops/logger.js';
import { startKubeCluster, type KubeCluster } from './support/kube-cluster.js';
import { adminPassword, eventually, login } from './support/test-core.js';

// The core on one real kube-apiserver (+ etcd, controller manager; no kubelet): two replicas
// (`node core/dist/main.js`, kubernetes mode) where both serve the API and the holder of the
// coordination.k8s.io Lease runs the controllers (SIGKILL the leader and the other takes the Lease
// once it expires); the deploy/ manifests by server-side dry-run; backends as Deployments.

const leaseSeconds = 4;
const namespace = 'mortise-replicas';

interface Lease {
  spec: { holderIdentity?: string; leaseTransitions?: number; renewTime?: string };
}

describe('two core replicas on one cluster', () => {
  let cluster: KubeCluster;
  const cores: ChildCore[] = [];
  const dirs: string[] = [];

  const start = async (name: string) => {
    const dataDir = mkdtempSync(join(tmpdir(), `mortise-${name}-`));
    dirs.push(dataDir);
    const core = await startChildCore({
      MORTISE_MODE: 'kubernetes', MORTISE_KUBECONFIG: cluster.kubeconfigPath, MORTISE_NAMESPACE: namespace, POD_NAME: name,
      MORTISE_LEASE_DURATION_SECONDS: String(leaseSeconds), MORTISE_DATA_DIR: dataDir, MORTISE_ADMIN_PASSWORD: adminPassword,
      MORTISE_BUNDLED_REPOSITORY: 'off', MORTISE_LOG_LEVEL: 'warn',
    }, { readyTimeoutMs: 120_000 });
    cores.push(core);
    return core;
  };
  const lease = async () => (await cluster.api('GET', `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/mortise-controllers`)).body as Lease;
  const workspacePhase = async (url: string, token: string, name: string) => {
    const res = await fetch(`${url}/apis/tenant.mortise.io/v1alpha1/workspaces/${name}`, { headers: { authorization: `Bearer ${token}` } });
    return ((await res.json()) as { status?: { phase?: string } }).status?.phase;
  };
  const createWorkspace = async (url: string, token: string, name: string) => {
    const res = await fetch(`${url}/apis/tenant.mortise.io/v1alpha1/workspaces`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'tenant.mortise.io/v1alpha1', kind: 'Workspace', metadata: { name }, spec: {} }),
    });
    expect(res.status, await res.clone().text()).toBe(201);
  };

  beforeAll(async () => {
    cluster = await startKubeCluster();
  }, 180_000);

  afterAll(async () => {
    for (const c of cores) await c.stop('SIGKILL');
    await cluster?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }, 60_000);

  it('serves from both, runs the controllers on the Lease holder only, and fails over when the leader is killed', async () => {
    const a = await start('replica-a');
    await eventually(async () => (await lease()).spec?.holderIdentity === 'replica-a', 30_000, 'replica-a to hold the lease');
    const b = await start('replica-b');
    const tokenA = await login(a.url, 'admin', adminPassword);
    const tokenB = await login(b.url, 'admin', adminPassword);

    // Either replica serves the API: written through b, read through a (one store, the cluster).
    await createWorkspace(b.url, tokenB, 'made-through-b');
    await eventually(async () => (await workspacePhase(a.url, tokenA, 'made-through-b')) === 'Active', 30_000, "the leader's workspace controller");

    // b stays a follower while a renews (two lease durations).
    const before = await lease();
    await new Promise((r) => setTimeout(r, leaseSeconds * 2000));
    const still = await lease();
    expect(still.spec.holderIdentity).toBe('replica-a');
    expect(still.spec.leaseTransitions).toBe(before.spec.leaseTransitions);
    expect(still.spec.renewTime).not.toBe(before.spec.renewTime);

    // Kill the leader: it cannot give the lease up; b takes it once it expires.
    const killedAt = Date.now();
    await a.stop('SIGKILL');
    await eventually(async () => (await lease()).spec?.holderIdentity === 'replica-b', leaseSeconds * 5000, 'replica-b to take the lease');
    const failoverMs = Date.now() - killedAt;
    process.stdout.write(`failover after SIGKILL of the leader: ${failoverMs} ms (lease ${leaseSeconds} s)\n`);
    expect((await lease()).spec.leaseTransitions).toBe((before.spec.leaseTransitions ?? 0) + 1);

    // The controllers now run on b.
    await createWorkspace(b.url, tokenB, 'after-failover');
    await eventually(async () => (await workspacePhase(b.url, tokenB, 'after-failover')) === 'Active', 30_000, "the new leader's workspace controller");
  }, 240_000);

  it('has deploy/ manifests the API server accepts (server-side dry-run)', async () => {
    const file = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'deploy', 'mortise.yaml');
    const docs = parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJSON() as { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } });
    expect(docs.map((d) => d.kind)).toEqual(['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'Deployment', 'Service']);
    for (const doc of docs) {
      const base = doc.apiVersion.includes('/') ? `/apis/${doc.apiVersion}` : `/api/${doc.apiVersion}`;
      const path = `${base}${doc.metadata.namespace ? `/namespaces/${doc.metadata.namespace}` : ''}/${doc.kind.toLowerCase()}s`;
      // The namespace for real (a dry-run creates nothing for the objects in it to land in).
      const res = await cluster.api('POST', doc.kind === 'Namespace' ? path : `${path}?dryRun=All`, doc);
      expect(res.status, `${doc.kind} ${doc.metadata.name}: ${JSON.stringify(res.body)}`).toBe(201);
    }
  });

  it('runs a backend as a Deployment + Service with a restricted security context, Ready when the Deployment is available', async () => {
    const client = await KubeClient.connect({ kubeconfig: cluster.kubeconfigPath });
    const runtime = new KubernetesRuntime({ client, logger: createLogger({ level: 'silent' }), pollMs: 100 });
    try {
      const spec = {
        id: 'hello-world@0.1.0', extension: 'hello-world', version: '0.1.0',
        healthPath: '/healthz', env: { MORTISE_CONFIG: '{}' }, image: 'example.com/hello-world:0.1.0',
      };
      const started = await runtime.start(spec);
      expect(started).toMatchObject({ state: 'Starting', url: 'http://hello-world-v0-1-0.mortise-ext-hello-world.svc:80' });
      const path = '/apis/apps/v1/namespaces/mortise-ext-hello-world/deployments/hello-world-v0-1-0';
      const deployment = (await cluster.api('GET', path)).body;
      const pod = deployment.spec.template.spec;
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      expect(pod.containers[0]).toMatchObject({
        image: 'example.com/hello-world:0.1.0',
        securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
        resources: { limits: { cpu: '1', memory: '512Mi' } },
        readinessProbe: { httpGet: { path: '/healthz', port: 'http' } },
      });
      expect(pod.containers[0].env).toEqual(expect.arrayContaining([{ name: 'PORT', value: '8080' }, { name: 'MORTISE_CONFIG', value: '{}' }]));
      expect((await cluster.api('GET', '/api/v1/namespaces/mortise-ext-hello-world/services/hello-world-v0-1-0')).status).toBe(200);
      await expect(runtime.waitReady(spec.id, 500)).rejects.toThrow(/not ready/);

      // There is no kubelet here: the test plays it, writing the Deployment's status as one would.
      const status = await cluster.api('PUT', `${path}/status`, {
        ...deployment, status: { observedGeneration: deployment.metadata.generation, replicas: 1, readyReplicas: 1, availableReplicas: 1, updatedReplicas: 1 },
      });
      expect(status.status).toBe(200);
      expect((await runtime.waitReady(spec.id, 10_000)).state).toBe('Ready');

      // The token is not in the Deployment (anyone reading Deployments would see it): a Secret holds it.
      expect(pod.containers[0].env).not.toContainEqual(expect.objectContaining({ name: 'MORTISE_TOKEN', value: expect.anything() }));

      // A process backend (a package, no image) runs in the stock runner image, told where to get
      // its package and what digest it must have, with the volumes deploy/node-runner/Dockerfile expects.
      const { image: _image, ...processSpec } = spec;
      const runner = runtime.manifests({ ...processSpec, env: { ...spec.env, MORTISE_TOKEN: 'tok' }, package: { digest: 'ab'.repeat(32), entry: 'dist/server.js', url: 'http://mortise-core.mortise-system.svc:80/kapis/extensions.mortise.io/v1alpha1/extensions/hello-world/package?version=0.1.0' } });
      const container = (runner.deployment.spec as any).template.spec.containers[0];
      expect(container.image).toBe(defaultRunnerImage);
      const envOf = Object.fromEntries((container.env as Array<{ name: string; value?: string }>).map((e) => [e.name, e.value ?? e]));
      expect(envOf).toMatchObject({ MORTISE_PACKAGE_DIGEST: 'ab'.repeat(32), MORTISE_PACKAGE_ENTRY: 'dist/server.js', MORTISE_PACKAGE_DIR: '/opt/mortise/unpacked', MORTISE_DATA_DIR: '/var/lib/mortise/data', MORTISE_TOKEN: { valueFrom: { secretKeyRef: { name: 'hello-world-v0-1-0', key: 'token' } } } });
      const dockerfile = readFileSync(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'deploy', 'node-runner', 'Dockerfile'), 'utf8');
      for (const mount of container.volumeMounts as Array<{ mountPath: string }>) if (mount.mountPath !== '/tmp') expect(dockerfile).toContain(mount.mountPath);
      expect(dockerfile).toContain(`mortise/node-runner:${defaultRunnerImage.split(':')[1]}`);

      await runtime.stop(spec.id);
      expect(runtime.status(spec.id)!.state).toBe('Stopped');
      expect((await cluster.api('GET', path)).status).toBe(404);
      // The token's Secret goes with them.
      expect((await cluster.api('GET', '/api/v1/namespaces/mortise-ext-hello-world/secrets/hello-world-v0-1-0')).status).toBe(404);
    } finally {
      await runtime.stopAll();
      await client.close();
    }
  });
});
