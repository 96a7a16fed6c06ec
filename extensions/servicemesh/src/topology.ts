import { clusterOf, type Endpoints, type EndpointState } from './endpoints.js';
import type { MeshState } from './mesh-state.js';
import type { Telemetry, WindowStats } from './telemetry.js';

// A namespace's traffic graph: a node per service (with its versions and their endpoints' health)
// and per caller outside the mesh, an edge per caller → service/version with its rates and
// latency over the window, and a health verdict from the error rate and ejected endpoints.

export type Health = 'healthy' | 'degraded' | 'failing' | 'idle';
export interface TopologyNode { id: string; kind: 'service' | 'external'; name: string; versions: Array<{ name: string; endpoints: EndpointState[]; stats: WindowStats; health: Health }>; stats: WindowStats; health: Health }
export interface TopologyEdge { id: string; source: string; target: string; version: string; stats: WindowStats; health: Health }

export function healthOf(s: WindowStats, ejected = 0, total = 1): Health {
  if (s.requests === 0 && ejected === 0) return 'idle';
  if (s.errorRate >= 0.2 || (total > 0 && ejected >= total)) return 'failing';
  if (s.errorRate > 0.01 || ejected > 0) return 'degraded';
  return 'healthy';
}

export function topology(namespace: string, state: MeshState, telemetry: Telemetry, endpoints: Endpoints, windowSeconds: number): { namespace: string; windowSeconds: number; nodes: TopologyNode[]; edges: TopologyEdge[] } {
  const nodes = new Map<string, TopologyNode>();
  for (const r of state.inNamespace(namespace)) {
    const versions = [...r.versions].map(([name, urls]) => {
      const eps = urls.map((u) => endpoints.state(clusterOf(namespace, r.service, name), u));
      const stats = telemetry.window((e) => e.namespace === namespace && e.service === r.service && e.version === name, windowSeconds);
      return { name, endpoints: eps, stats, health: healthOf(stats, eps.filter((e) => e.ejected).length, eps.length) };
    });
    const stats = telemetry.window((e) => e.namespace === namespace && e.service === r.service, windowSeconds);
    const ejected = versions.reduce((n, v) => n + v.endpoints.filter((e) => e.ejected).length, 0);
    const total = versions.reduce((n, v) => n + v.endpoints.length, 0);
    nodes.set(r.service, { id: r.service, kind: 'service', name: r.service, versions, stats, health: healthOf(stats, ejected, total) });
  }
  const edges: TopologyEdge[] = [];
  for (const e of telemetry.edgesIn(namespace)) {
    if (!nodes.has(e.source)) {
      nodes.set(e.source, { id: e.source, kind: 'external', name: e.source, versions: [], stats: telemetry.window((x) => x.namespace === namespace && x.source === e.source, windowSeconds), health: 'idle' });
    }
    const stats = telemetry.window((x) => x.namespace === namespace && x.source === e.source && x.service === e.service && x.version === e.version, windowSeconds);
    if (stats.requests === 0) continue;
    edges.push({ id: `${e.source}->${e.service}/${e.version}`, source: e.source, target: e.service, version: e.version, stats, health: healthOf(stats) });
  }
  return { namespace, windowSeconds, nodes: [...nodes.values()], edges };
}
