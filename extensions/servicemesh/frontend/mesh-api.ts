// What the pages read from the extension's backend (through the gateway, the session's identity).

export const base = '/proxy/servicemesh/api';
export const meshGroup = { group: 'servicemesh.mortise.io', version: 'v1alpha1' };

export interface WindowStats { requests: number; errors: number; rps: number; errorRate: number; p50Ms: number; p99Ms: number }
export interface EndpointState { url: string; ejected: boolean; consecutive5xx: number; ejections: number }
export interface TopologyNode { id: string; kind: 'service' | 'external'; versions: Array<{ name: string; endpoints: EndpointState[]; stats: WindowStats; health: string }>; stats: WindowStats; health: string }
export interface TopologyEdge { id: string; source: string; target: string; version: string; stats: WindowStats; health: string }
export interface Topology { namespace: string; nodes: TopologyNode[]; edges: TopologyEdge[] }
export interface TraceSummary { traceId: string; rootService: string; services: string[]; startTime: number; durationMs: number; spans: number; error: boolean }
export interface SpanNode { spanId: string; service: string; version: string; source: string; method: string; path: string; status: number; startTime: number; durationMs: number; error: boolean; attempts: number; events?: string[]; children: SpanNode[] }
export interface GrayRelease {
  metadata: { name: string; namespace: string };
  spec: { service: string; stable: string; canary: string; strategy: string; steps?: number[]; step?: number; header?: { name: string; exact?: string } };
  status?: { phase?: string; canaryWeight?: number; message?: string; reason?: string };
}

export const healthColor: Record<string, string> = { healthy: '#2f9e44', degraded: '#f08c00', failing: '#e03131', idle: '#868e96' };
export const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
