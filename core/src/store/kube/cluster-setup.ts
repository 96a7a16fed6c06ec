// What the kubernetes mode needs of a cluster before the core serves: its own namespace (for
// internal Secrets) and the core's kinds as CRDs, applied from core/config/crds/ (the YAML the
// kinds' schemas emit) and waited for until Established.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { KubeObject } from '../resource-store.js';
import { StoreError } from '../resource-store.js';
import type { KubeClient } from './kube-client.js';
import { corePackageDir } from '../../package-dir.js';

export const crdDir = join(corePackageDir(), 'config', 'crds');
const crdsPath = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';

export async function ensureNamespace(client: KubeClient, name: string): Promise<void> {
  try {
    await client.call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  } catch (e) {
    if (!(e instanceof StoreError && e.reason === 'AlreadyExists')) throw e;
  }
}

/** Creates or replaces every CRD of the core, then waits until the cluster serves them all. */
export async function applyCoreCrds(client: KubeClient, dir = crdDir, timeoutMs = 60_000): Promise<string[]> {
  const crds = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort().map((f) => parse(readFileSync(join(dir, f), 'utf8')) as KubeObject);
  await Promise.all(crds.map(async (crd) => {
    const name = crd.metadata.name!;
    for (let attempt = 0; ; attempt++) {
      const current = await client.call('GET', `${crdsPath}/${name}`, undefined, { missingOk: true });
      try {
        if (!current) await client.call('POST', crdsPath, crd);
        else await client.call('PUT', `${crdsPath}/${name}`, { ...crd, metadata: { ...crd.metadata, resourceVersion: current.metadata.resourceVersion } });
        return;
      } catch (e) {
        // Another replica applied it at the same moment: read again.
        if (e instanceof StoreError && (e.reason === 'Conflict' || e.reason === 'AlreadyExists') && attempt < 5) continue;
        throw e;
      }
    }
  }));
  const deadline = Date.now() + timeoutMs;
  for (const crd of crds) {
    for (;;) {
      const current = await client.call('GET', `${crdsPath}/${crd.metadata.name}`);
      const conditions = ((current?.status as { conditions?: Array<{ type: string; status: string }> } | undefined)?.conditions) ?? [];
      if (conditions.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`the cluster did not establish the CRD ${crd.metadata.name} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return crds.map((c) => c.metadata.name!);
}
