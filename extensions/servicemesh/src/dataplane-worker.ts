import type { Socket } from 'node:net';
import { DataPlane } from './dataplane.js';
import type { WorkerMessage } from './dataplane-cluster.js';
import { MeshState } from './mesh-state.js';
import { Telemetry } from './telemetry.js';
import { SpanStore } from './tracing.js';

// A data-plane worker process: the backend forks several and hands each the connections it
// accepts on the `dataplane` port. It is given the rules at start and every change after; it
// answers the backend's queries for its telemetry and spans, and sends it its endpoints' outcomes
// (the backend counts them for outlier detection across workers).

interface WorkerConfig { workers: number; traceCapacity: number }
const config = JSON.parse(process.env.MESH_DATAPLANE_WORKER ?? '{}') as WorkerConfig;
const log = (msg: string) => process.stderr.write(`${JSON.stringify({ level: 'info', component: 'dataplane-worker', pid: process.pid, msg })}\n`);
/** To the backend; false when it is gone (this worker then ends, on the disconnect). */
function send(m: WorkerMessage): boolean {
  if (!process.connected) return false;
  try {
    process.send!(m);
    return true;
  } catch {
    return false;
  }
}

const state = new MeshState(log);
const telemetry = new Telemetry();
const spans = new SpanStore(config.traceCapacity);
const dataplane = new DataPlane({ state, telemetry, spans, log, workers: config.workers });
// Outlier detection is counted by the backend across workers: a failure waits for its reply.
const waiting = new Map<number, () => void>();
let nextId = 0;
dataplane.endpoints.shared = {
  failed: (cluster, url, siblings, breaker) => new Promise<void>((resolve) => {
    const id = ++nextId;
    waiting.set(id, resolve);
    if (!send({ type: 'outcome', id, cluster, url, failed: true, siblings, ...(breaker ? { breaker } : {}) })) {
      waiting.delete(id);
      resolve();
    }
  }),
  recovered: (cluster, url) => void send({ type: 'outcome', cluster, url, failed: false }),
};

process.on('message', (m: WorkerMessage, socket?: Socket) => {
  switch (m.type) {
    case 'init':
      for (const c of m.changes) state.replay(c);
      send({ type: 'ready' });
      break;
    case 'connection':
      if (!socket) break;
      socket.once('close', () => send({ type: 'closed' }));
      dataplane.serve(socket);
      break;
    case 'change':
      state.replay(m.change);
      break;
    case 'reply':
      waiting.get(m.id)?.();
      waiting.delete(m.id);
      break;
    case 'query': {
      const q = m.query;
      let result: unknown = null;
      if (q.what === 'telemetry') result = telemetry.snapshot(q.seconds);
      else if (q.what === 'traceIds') result = spans.traceIdsTouching(q.namespace);
      else if (q.what === 'spans') result = spans.spansOfTraces(q.traceIds);
      else if (q.what === 'health') dataplane.endpoints.set(q.cluster, q.url, q.health);
      send({ type: 'reply', id: m.id, result });
      break;
    }
    default:
      break;
  }
});
// Messages sent before this listener existed were dropped: the backend sends the rules now.
send({ type: 'started' });
// The backend is gone: so is its data plane.
process.once('disconnect', () => process.exit(0));
