import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addToIndex, packExtension, parseRepositoryIndex, serializeRepositoryIndex } from '@mortise/extension-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChildCore, type ChildCore } from './support/child-core.js';
import { startKubeCluster, type KubeCluster } from './support/kube-cluster.js';
import { adminPassword, call, eventually, login } from './support/test-core.js';

// Two core replicas (`node core/dist/main.js`, kubernetes mode, backends as Deployments by
// default) on a real kube-apiserver; the leader is SIGKILLed in the middle of an InstallPlan (its
// backend's Deployment made, waiting for it to be ready) and the other replica finishes the plan.
// Every install step that writes to the cluster must have happened once: same uids, no spec
// rewritten (generation 1), no second write of the Service or the token Secret. There is no
// kubelet here: the test plays it, writing the Deployment's status as one would.

const leaseSeconds = 4;
const namespace = 'mortise-failover';
const extNamespace = 'mortise-ext-plain-node';
const ext = '/apis/extensions.mortise.io/v1alpha1';

interface Meta {
  metadata: { uid: string; generation?: number; resourceVersion: string; annotations?: Record<string, string> };
}

describe('an InstallPlan whose leader is killed mid-install', () => {
  let cluster: KubeCluster;
  const cores: ChildCore[] = [];
  const work = mkdtempSync(join(tmpdir(), 'mortise-install-failover-'));
  const repo = join(work, 'repo');

  const start = async (name: string) => {
    const dataDir = mkdtempSync(join(work, `${name}-`));
    const core = await startChildCore({
      MORTISE_MODE: 'kubernetes', MORTISE_KUBECONFIG: cluster.kubeconfigPath, MORTISE_NAMESPACE: namespace, POD_NAME: name,
      MORTISE_LEASE_DURATION_SECONDS: String(leaseSeconds), MORTISE_DATA_DIR: dataDir, MORTISE_ADMIN_PASSWORD: adminPassword,
      // Replicas behind one Service share one issuer (what deploy/ sets up); here they listen on two ports.
      MORTISE_ISSUER: 'http://mortise-core.mortise-failover.svc',
      MORTISE_BUNDLED_REPOSITORY: 'off', MORTISE_LOG_LEVEL: 'warn',
    }, { readyTimeoutMs: 120_000 });
    cores.push(core);
    return core;
  };
  const holder = async () => ((await cluster.api('GET', `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/mortise-controllers`)).body as { spec?: { holderIdentity?: string } }).spec?.holderIdentity;
  const get = async (path: string) => {
    const res = await cluster.api('GET', path);
    return res.status === 200 ? (res.body as Meta) : undefined;
  };
  const paths = {
    deployment: `/apis/apps/v1/namespaces/${extNamespace}/deployments/plain-node-v1-0-0`,
    service: `/api/v1/namespaces/${extNamespace}/services/plain-node-v1-0-0`,
    secret: `/api/v1/namespaces/${extNamespace}/secrets/plain-node-v1-0-0`,
    crd: '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.plain.example.com',
    user: '/apis/iam.mortise.io/v1alpha1/users/extension-plain-node',
    role: '/apis/iam.mortise.io/v1alpha1/globalroles/extension-plain-node',
  };

  beforeAll(async () => {
    const src = join(work, 'src', 'plain-node');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'extension.yaml'), [
      'apiVersion: mortise.io/v1alpha1', 'kind: Extension', 'name: plain-node', 'version: 1.0.0', 'displayName: Plain', 'description: installed across a failover',
      'category: examples', 'provider: {name: Tester}', 'license: MIT', 'engines: {mortise: ">=0.1.0"}', 'backend: {entry: server.mjs, healthPath: /healthz}',
      'resources: [crds.yaml]', 'reverseProxies: [{prefix: /proxy/plain-node/}]', '',
    ].join('\n'));
    writeFileSync(join(src, 'server.mjs'), "import http from 'node:http';\nhttp.createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), process.env.HOST);\n");
    writeFileSync(join(src, 'crds.yaml'), [
      'apiVersion: apiextensions.k8s.io/v1', 'kind: CustomResourceDefinition', 'metadata: {name: widgets.plain.example.com}',
      'spec:', '  group: plain.example.com', '  scope: Namespaced', '  names: {plural: widgets, singular: widget, kind: Widget}',
      '  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}]', '',
    ].join('\n'));
    const packed = await packExtension(src, { outDir: join(repo, 'packages') });
    const index = addToIndex(parseRepositoryIndex(serializeRepositoryIndex({ apiVersion: 'v1', generated: new Date().toISOString(), entries: {}, categories: [] })), packed.manifest, {
      digest: packed.sha256, url: 'packages/plain-node-1.0.0.tgz',
    });
    writeFileSync(join(repo, 'index.yaml'), serializeRepositoryIndex(index));
    cluster = await startKubeCluster();
  }, 180_000);

  afterAll(async () => {
    for (const c of cores) await c.stop('SIGKILL');
    await cluster?.stop();
    rmSync(work, { recursive: true, force: true });
  }, 60_000);

  it('is finished by the other replica without doing any step twice', async () => {
    const a = await start('replica-a');
    await eventually(async () => (await holder()) === 'replica-a', 30_000, 'replica-a to hold the lease');
    const b = await start('replica-b');
    const tokenA = await login(a.url, 'admin', adminPassword);
    const tokenB = await login(b.url, 'admin', adminPassword);

    // A replica that just started may refuse the admin for a moment while its caches take in the
    // other's seed (seen once, on a loaded CI machine): the create is retried on 403 only, and the
    // last refusal is what a timeout reports.
    let refusal = '';
    await eventually(async () => {
      const res = await call(a.url, tokenA, `${ext}/repositories`, { method: 'POST', json: { metadata: { name: 'local' }, spec: { url: `file://${repo}` } } });
      if (res.status === 403) refusal = await res.text();
      else expect(res.status, await res.clone().text()).toBe(201);
      return res.status === 201;
    }, 30_000, 'the repository created').catch((e: Error) => {
      throw new Error(`${e.message}; the last refusal: ${refusal}`);
    });
    await eventually(async () => (await call(a.url, tokenA, `${ext}/extensionversions/plain-node-1.0.0`)).status === 200, 60_000, 'repository synced')
      .catch(async (e: Error) => {
        const repository = await (await call(a.url, tokenA, `${ext}/repositories/local`)).text();
        throw new Error(`${e.message}: ${repository}\nleader stderr: ${a.stderr().slice(-2000)}`);
      });
    expect((await call(a.url, tokenA, `${ext}/installplans`, { method: 'POST', json: { metadata: { name: 'plain-node' }, spec: { extension: { name: 'plain-node', version: '1.0.0' } } } })).status).toBe(201);

    // The leader made the backend's Deployment and waits for it to be ready (no kubelet runs it): kill it there.
    const made = await eventually(async () => get(paths.deployment), 60_000, "the leader to make the backend's Deployment");
    const before = Object.fromEntries(await Promise.all(Object.entries(paths).map(async ([k, p]) => [k, await eventually(() => get(p), 10_000, k)] as const)));
    const plan = (await (await call(a.url, tokenA, `${ext}/installplans/plain-node`)).json()) as { status?: { state?: string; progress?: { step: string } } };
    expect(plan.status).toMatchObject({ state: 'Installing', progress: { step: 'backend' } });
    expect(made.metadata.generation).toBe(1);
    await a.stop('SIGKILL');
    await eventually(async () => (await holder()) === 'replica-b', leaseSeconds * 5000, 'replica-b to take the lease');

    // Playing the kubelet: the Deployment's one replica is available.
    const d = (await cluster.api('GET', paths.deployment)).body as Meta & Record<string, unknown>;
    const written = await cluster.api('PUT', `${paths.deployment}/status`, {
      ...d, status: { observedGeneration: d.metadata.generation, replicas: 1, readyReplicas: 1, availableReplicas: 1, updatedReplicas: 1 },
    });
    expect(written.status).toBe(200);
    const done = await eventually(async () => {
      const p = (await (await call(b.url, tokenB, `${ext}/installplans/plain-node`)).json()) as { status?: { state?: string; installedVersion?: string; message?: string } };
      return p.status?.state === 'Installed' ? p : undefined;
    }, 60_000, 'replica-b to finish the install');
    expect(done.status).toMatchObject({ installedVersion: '1.0.0' });

    // Each object was made once and never rewritten: same uid, spec generation 1 (the
    // Deployment's status was written by the test), the Service and the token Secret untouched.
    const after = Object.fromEntries(await Promise.all(Object.entries(paths).map(async ([k, p]) => [k, (await get(p))!] as const)));
    for (const key of Object.keys(paths)) {
      expect(after[key]!.metadata.uid, key).toBe(before[key]!.metadata.uid);
      expect(after[key]!.metadata.generation, key).toBe(before[key]!.metadata.generation);
    }
    expect(after.deployment!.metadata.generation).toBe(1);
    expect(after.deployment!.metadata.annotations?.['mortise.io/spec-hash']).toBe(made.metadata.annotations?.['mortise.io/spec-hash']);
    expect(after.service!.metadata.resourceVersion).toBe(before.service!.metadata.resourceVersion);
    expect(after.secret!.metadata.resourceVersion).toBe(before.secret!.metadata.resourceVersion);
    // Only one Deployment and one Service were ever made for the extension.
    expect(((await cluster.api('GET', `/apis/apps/v1/namespaces/${extNamespace}/deployments`)).body as { items: unknown[] }).items).toHaveLength(1);
    expect(((await cluster.api('GET', `/api/v1/namespaces/${extNamespace}/services`)).body as { items: unknown[] }).items).toHaveLength(1);
  }, 300_000);
});
