import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCore, workspace, type TestCore } from './support/test-core.js';

describe('core smoke', () => {
  let t: TestCore;
  beforeAll(async () => {
    t = await startTestCore();
  });
  afterAll(async () => t?.close());

  it('serves namespaces and custom objects to client-node', async () => {
    const core = t.kubeConfig.makeApiClient(k8s.CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: 'smoke' } } });
    const list = await core.listNamespace();
    expect(list.items.map((n) => n.metadata?.name)).toContain('smoke');
    const objects = t.kubeConfig.makeApiClient(k8s.CustomObjectsApi);
    const created = await objects.createClusterCustomObject({ group: 'tenant.mortise.io', version: 'v1alpha1', plural: 'workspaces', body: workspace('w1') });
    expect(created.metadata.uid).toMatch(/[0-9a-f-]{36}/);
  });
});
