import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestCore, type TestCore } from '../../../core/test/support/test-core.js';
import { findNginx } from '../src/nginx-plane.js';
import { installMesh, traceWithSpans } from './support/install-mesh.js';
import { many as manyCalls, sendThrough } from './support/mesh-client.js';
import { startShopService, type ShopProcess } from './support/mesh-shop.js';

// The extension installed with `dataPlane: nginx` into a real core: its backend (confined by the
// permission model) runs nginx; the sample shop calls through it; traces, topology and the
// GrayRelease controller's automatic rollback work from nginx's counters and span log through the same APIs.

const mesh = (ns: string) => `/apis/servicemesh.mortise.io/v1alpha1/namespaces/${ns}`;
const api = (ns: string) => `/proxy/servicemesh/api/namespaces/${ns}`;

describe('service mesh extension on the nginx data plane', () => {
  let t: TestCore;
  let work = '';
  let dataplane = '';
  const procs: ShopProcess[] = [];
  let catalogV2: ShopProcess;
  const create = async (plural: string, kind: string, name: string, spec: unknown) =>
    (await t.api(`${mesh('shop')}/${plural}`, { method: 'POST', json: { apiVersion: 'servicemesh.mortise.io/v1alpha1', kind, metadata: { name }, spec } })).status;
  // No retry on a reset: rule changes reach nginx without a reload, so no kept-alive connection is closed under a request.
  const send = (host: string, headers: Record<string, string> = {}) => sendThrough(dataplane, host, headers, { path: '/items' });
  const many = (n: number, host: string) => manyCalls(n, () => send(host));

  beforeAll(async () => {
    if (!findNginx()) throw new Error('this test runs the extension on its nginx data plane and no nginx binary was found: apt-get install nginx-light libnginx-mod-http-lua');
    work = mkdtempSync(join(tmpdir(), 'mortise-mesh-nginx-'));
    t = await startTestCore({ backendReadyTimeoutMs: 20_000 });
    dataplane = await installMesh(t, work, { dataPlane: 'nginx' });
    expect((await t.api('/api/v1/namespaces', { method: 'POST', json: { metadata: { name: 'shop' } } })).status).toBe(201);
    const common = { MESH_URL: dataplane, NAMESPACE: 'shop' };
    const inventory = await startShopService({ ...common, NAME: 'inventory' });
    const catalogV1 = await startShopService({ ...common, NAME: 'catalog', VERSION: 'v1', CALLS: 'inventory/stock' });
    catalogV2 = await startShopService({ ...common, NAME: 'catalog', VERSION: 'v2', CALLS: 'inventory/stock' });
    const frontend = await startShopService({ ...common, NAME: 'frontend', CALLS: 'catalog/items' });
    procs.push(inventory, catalogV1, catalogV2, frontend);
    const svc = (versions: Array<[string, string]>) => ({ versions: versions.map(([name, url]) => ({ name, endpoints: [url] })) });
    expect(await create('meshservices', 'MeshService', 'inventory', svc([['v1', inventory.url]]))).toBe(201);
    expect(await create('meshservices', 'MeshService', 'catalog', svc([['v1', catalogV1.url], ['v2', catalogV2.url]]))).toBe(201);
    expect(await create('meshservices', 'MeshService', 'frontend', svc([['v1', frontend.url]]))).toBe(201);
    await eventually(async () => (await send('frontend.shop')).status === 200 && (await send('catalog.shop')).status === 200, 10_000, 'the data plane knows the shop');
  }, 180_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await t?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('serves through nginx and joins a trace across three services in the trace API and the topology', async () => {
    const res = await request(`${dataplane}/items`, { headers: { host: 'frontend.shop' } });
    expect(res.statusCode).toBe(200);
    expect(res.headers.server).toBe('nginx');
    // The API says which plane serves.
    expect(await (await t.api('/proxy/servicemesh/api/dataplane')).json()).toMatchObject({ url: dataplane, plane: 'nginx', setting: 'nginx' });
    const body = (await res.body.json()) as { headers: { traceparent: string } };
    const traceId = body.headers.traceparent.split('-')[1]!;
    const trace = await traceWithSpans(t, 'shop', traceId, 3);
    const root = trace.roots[0]!;
    expect([root.service, root.source]).toEqual(['frontend', 'ingress']);
    expect([root.children[0]!.service, root.children[0]!.source]).toEqual(['catalog', 'frontend']);
    expect([root.children[0]!.children[0]!.service, root.children[0]!.children[0]!.source]).toEqual(['inventory', 'catalog']);
    const topology = (await (await t.api(`${api('shop')}/topology`)).json()) as { edges: Array<{ source: string; target: string }> };
    expect(topology.edges.map((e) => `${e.source}->${e.target}`)).toEqual(expect.arrayContaining(['frontend->catalog', 'catalog->inventory']));
    const metrics = await (await t.api('/proxy/servicemesh/metrics')).text();
    expect(metrics).toMatch(/mesh_requests_total\{namespace="shop",source="frontend",destination_service="catalog",destination_version="v1",response_code="200"\} [1-9]/);
  });

  it('rolls an unhealthy canary back automatically (the controller reading nginx\'s telemetry)', async () => {
    await catalogV2.behave({ failRate: 1 });
    expect(await create('grayreleases', 'GrayRelease', 'catalog-v2', {
      service: 'catalog', stable: 'v1', canary: 'v2', strategy: 'canary', steps: [50], step: 0,
      analysis: { maxErrorRate: 0.2, windowSeconds: 5, minRequests: 10 },
    })).toBe(201);
    const status = async () => ((await (await t.api(`${mesh('shop')}/grayreleases/catalog-v2`)).json()) as { status?: { phase?: string; reason?: string } }).status;
    const rolledBack = await eventually(async () => {
      await many(40, 'catalog.shop');
      const s = await status();
      return s?.phase === 'RolledBack' ? s : undefined;
    }, 20_000, 'automatic rollback');
    expect(rolledBack.reason).toMatch(/error rate/);
    // In force in nginx once the status shows (the controller waits for the push).
    const after = await many(100, 'catalog.shop');
    expect(after.map((r) => [r.status, r.version])).toEqual(Array(100).fill([200, 'v1']));
  }, 60_000);
});
