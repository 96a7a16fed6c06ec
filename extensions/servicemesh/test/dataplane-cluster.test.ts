import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../../core/test/support/test-core.js';
import { DataPlaneCluster } from '../src/dataplane-cluster.js';
import { MeshState } from '../src/mesh-state.js';
import { Telemetry } from '../src/telemetry.js';

// The data plane served by two worker processes: rules given to the backend's state reach both,
// an ejection in one is in force in the other, a trace whose hops landed on different workers is
// one trace with its caller known, and the merged telemetry counts every worker's requests.
// Each request here opens its own connection, so the backend hands them to the workers in turn.

const workerEntry = join(import.meta.dirname, '..', 'dist', 'dataplane-worker.js');

/** An upstream answering its name and the traceparent it was given. */
async function upstream(name: string): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ name, traceparent: req.headers.traceparent }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('the data plane on several worker processes', () => {
  const state = new MeshState();
  let cluster: DataPlaneCluster;
  let port = 0;
  const servers: Server[] = [];
  let v1 = '';
  let v2 = '';

  /** One request on a connection of its own. */
  const send = (host: string, headers: Record<string, string> = {}) => new Promise<{ status: number; version?: string; body: { name?: string; traceparent?: string } }>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/', headers: { host, connection: 'close', ...headers }, agent: false }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c));
      res.on('end', () => {
        let body = {};
        try {
          body = JSON.parse(text) as object;
        } catch {
          // an error text from the mesh
        }
        resolve({ status: res.statusCode!, version: res.headers['x-mesh-version'] as string | undefined, body });
      });
    });
    req.on('error', reject);
    req.end();
  });
  const sendMany = async (n: number, host: string) => {
    const out = [];
    for (let i = 0; i < n; i++) out.push(await send(host));
    return out;
  };
  const meta = (name: string) => ({ name, namespace: 'shop' });

  beforeAll(async () => {
    const a = await upstream('v1');
    const b = await upstream('v2');
    servers.push(a.server, b.server);
    v1 = a.url;
    v2 = b.url;
    state.apply('MeshService', 'ADDED', { metadata: meta('catalog'), spec: { versions: [{ name: 'v1', endpoints: [v1] }, { name: 'v2', endpoints: [v2] }] } });
    cluster = new DataPlaneCluster({ state, workers: 2, traceCapacity: 1000, log: () => {}, workerEntry });
    port = await freePort();
    await cluster.listen(port);
  }, 30_000);

  afterAll(async () => {
    await cluster?.close();
    for (const s of servers) s.close();
  });

  it('routes by the rules given before it started, and by every change after, in every worker', async () => {
    expect((await sendMany(10, 'catalog.shop')).map((r) => r.version)).toEqual(Array(10).fill('v1'));
    state.apply('TrafficRule', 'ADDED', { metadata: meta('catalog'), spec: { service: 'catalog', routes: [{ destinations: [{ version: 'v2' }] }] } });
    await eventually(async () => (await sendMany(10, 'catalog.shop')).every((r) => r.version === 'v2' && r.body.name === 'v2'), 5000, 'v2 from every worker');
    state.apply('TrafficRule', 'DELETED', { metadata: meta('catalog'), spec: { service: 'catalog', routes: [{ destinations: [{ version: 'v2' }] }] } });
    await eventually(async () => (await sendMany(10, 'catalog.shop')).every((r) => r.version === 'v1'), 5000, 'v1 again from every worker');
    // A service added while it runs.
    state.apply('MeshService', 'ADDED', { metadata: meta('late'), spec: { versions: [{ name: 'v1', endpoints: [v2] }] } });
    await eventually(async () => (await sendMany(10, 'late.shop')).every((r) => r.status === 200), 5000, 'the new service in every worker');
  });

  it("merges every worker's telemetry: counts, windows and the Prometheus text", async () => {
    state.apply('MeshService', 'ADDED', { metadata: meta('counted'), spec: { versions: [{ name: 'v1', endpoints: [v1] }] } });
    await eventually(async () => (await sendMany(4, 'counted.shop')).every((r) => r.status === 200), 5000, 'the service in every worker');
    await sendMany(96, 'counted.shop');
    const per = await cluster.snapshots();
    expect(per).toHaveLength(2);
    const counts = per.map((s) => s.edges.filter((e) => e.edge.service === 'counted').reduce((n, e) => n + e.count, 0));
    // Both workers served some, and the merge is their sum.
    expect(counts.every((n) => n > 0)).toBe(true);
    expect(counts[0]! + counts[1]!).toBe(100);
    const merged = await cluster.telemetry(60);
    expect(merged.window((e) => e.service === 'counted' && e.source === 'ingress', 60).requests).toBe(100);
    const families = parsePrometheusTextFormat(merged.metrics()) as Array<{ name: string; metrics: Array<{ labels?: Record<string, string>; value?: string }> }>;
    const total = families.find((f) => f.name === 'mesh_requests_total')!.metrics.filter((m) => m.labels?.destination_service === 'counted');
    expect(total.reduce((n, m) => n + Number(m.value), 0)).toBe(100);
    expect(new Telemetry().metrics()).toContain('# TYPE mesh_request_duration_seconds histogram');
  });

  it('an endpoint ejected by one worker is left out by the others', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    state.apply('MeshService', 'ADDED', { metadata: meta('pool'), spec: { versions: [{ name: 'v1', endpoints: [dead, v1] }] } });
    state.apply('CircuitBreaker', 'ADDED', { metadata: meta('pool'), spec: { service: 'pool', outlierDetection: { consecutive5xxErrors: 1, baseEjectionTimeMs: 60_000 } } });
    // Until one worker has met the dead endpoint and ejected it.
    await eventually(async () => (await send('pool.shop')).status === 503, 5000, 'a failure');
    await eventually(async () => (await cluster.endpoints()).state('shop/pool/v1', dead).ejected, 5000, 'ejected');
    const after = await sendMany(20, 'pool.shop');
    expect(after.filter((r) => r.status !== 200)).toEqual([]);
    expect((await cluster.endpoints()).state('shop/pool/v1', v1).ejected).toBe(false);
  });

  it('replaces a worker that dies, with the rules and the ejections in force', async () => {
    const before = cluster.pids();
    expect(before).toHaveLength(2);
    process.kill(before[0]!, 'SIGKILL');
    await eventually(() => cluster.pids().length === 2 && !cluster.pids().includes(before[0]!), 20_000, 'a new worker');
    // The rules (v1 by default: the TrafficRule was deleted) and pool's ejected endpoint, in both.
    expect((await sendMany(10, 'catalog.shop')).map((r) => r.version)).toEqual(Array(10).fill('v1'));
    expect((await sendMany(10, 'pool.shop')).filter((r) => r.status !== 200)).toEqual([]);
  }, 30_000);

  it('joins hops served by different workers into one trace, the caller named by its span', async () => {
    state.apply('MeshService', 'ADDED', { metadata: meta('front'), spec: { versions: [{ name: 'v1', endpoints: [v1] }] } });
    state.apply('MeshService', 'ADDED', { metadata: meta('back'), spec: { versions: [{ name: 'v1', endpoints: [v2] }] } });
    await eventually(async () => (await sendMany(4, 'back.shop')).every((r) => r.status === 200), 5000, 'the services in every worker');
    // front's hop, then the call front would make with the traceparent it was given, on a new
    // connection each, so by turns on the two workers (twice, so one pair surely crosses).
    for (let i = 0; i < 2; i++) {
      const first = await send('front.shop');
      const traceId = first.body.traceparent!.split('-')[1]!;
      const second = await send('back.shop', { traceparent: first.body.traceparent! });
      expect(second.body.traceparent!.split('-')[1]).toBe(traceId);
      const store = await cluster.traces({ namespace: 'shop' });
      const tree = store.tree(traceId)!;
      expect(tree.summary.spans).toBe(2);
      expect(tree.roots).toHaveLength(1);
      expect([tree.roots[0]!.service, tree.roots[0]!.source]).toEqual(['front', 'ingress']);
      expect([tree.roots[0]!.children[0]!.service, tree.roots[0]!.children[0]!.source]).toEqual(['back', 'front']);
      expect((await cluster.traces({ traceIds: [traceId] })).spansOf(traceId)).toHaveLength(2);
    }
  });
});
