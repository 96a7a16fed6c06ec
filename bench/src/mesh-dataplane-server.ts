import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataPlane } from '../../extensions/servicemesh/dist/dataplane.js';
import { DataPlaneCluster } from '../../extensions/servicemesh/dist/dataplane-cluster.js';
import { MeshState } from '../../extensions/servicemesh/dist/mesh-state.js';
import { NginxDataPlane } from '../../extensions/servicemesh/dist/nginx-plane.js';
import { Telemetry } from '../../extensions/servicemesh/dist/telemetry.js';
import { SpanStore } from '../../extensions/servicemesh/dist/tracing.js';

// The service mesh's data plane alone, as its backend runs it (same classes, one process), with
// one MeshService `bench.bench` → UPSTREAM and a TrafficRule with a retry policy and a route
// timeout, so the measured path is the full one: routing, weights, trace context, spans and
// per-edge telemetry. Ready at /healthz (a request through the proxy to the upstream's).
// MESH_WORKERS > 1 serves it with that many worker processes, as the backend does.
// MESH_PLANE=nginx: the native plane instead (nginx with MESH_WORKERS worker processes, default 1;
// MESH_NGINX: the program run as nginx, as mesh-lua-ab's instructions mode gives it; MESH_TRACE_SAMPLES:
// new traces sampled a second, default 100).

const state = new MeshState();
const meta = (name: string) => ({ name, namespace: 'bench' });
state.apply('MeshService', 'ADDED', { metadata: meta('bench'), spec: { versions: [{ name: 'v1', endpoints: [process.env.UPSTREAM!] }] } });
state.apply('TrafficRule', 'ADDED', { metadata: meta('bench'), spec: { service: 'bench', routes: [{ destinations: [{ version: 'v1', weight: 100 }], retries: { attempts: 2, perTryTimeoutMs: 5000 }, timeoutMs: 10_000 }] } });
const workers = Number(process.env.MESH_WORKERS ?? 1);
// nginx's prefix for this run, removed when the process is told to stop.
const nginxDir = process.env.MESH_PLANE === 'nginx' ? mkdtempSync(join(tmpdir(), 'mortise-bench-mesh-nginx-')) : undefined;
const dataplane = nginxDir
  ? new NginxDataPlane({ state, dir: nginxDir, traceCapacity: 20_000, log: (m) => process.stderr.write(`${m}\n`), workerProcesses: workers, ...(process.env.MESH_TRACE_SAMPLES ? { traceSamplesPerSecond: Number(process.env.MESH_TRACE_SAMPLES) } : {}), ...(process.env.MESH_NGINX ? { nginx: process.env.MESH_NGINX } : {}) })
  : workers > 1
  ? new DataPlaneCluster({ state, workers, traceCapacity: 20_000, log: (m) => process.stderr.write(`${m}\n`) })
  : new DataPlane({ state, telemetry: new Telemetry(), spans: new SpanStore(20_000), log: () => {} });
await dataplane.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => void ('close' in dataplane ? dataplane.close() : Promise.resolve()).finally(() => {
  if (nginxDir) rmSync(nginxDir, { recursive: true, force: true });
  process.exit(0);
}));
