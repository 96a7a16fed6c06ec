import { Counter, Histogram, Registry } from 'prom-client';

// Per edge (caller → service/version): requests, errors and latency. Exposed in Prometheus'
// text format through prom-client, and kept per second for the last few minutes so the topology
// can show rates and the release analysis can read a window's error rate and p99.

export interface Edge { namespace: string; source: string; service: string; version: string }
const SECONDS = 600;
/** Log-spaced latency buckets for windowed quantiles: 0.25 ms × 1.2^i, up to ~ 2 min. */
const FINE = Array.from({ length: 72 }, (_, i) => 0.25 * 1.2 ** i);

interface Slot { second: number; count: number; errors: number; sumMs: number; hist: Uint32Array }
interface EdgeStats { edge: Edge; slots: Slot[] }

export interface WindowStats { requests: number; errors: number; rps: number; errorRate: number; p50Ms: number; p99Ms: number; meanMs: number }

export class Telemetry {
  readonly registry = new Registry();
  private readonly requests: Counter<'namespace' | 'source' | 'destination_service' | 'destination_version' | 'response_code'>;
  private readonly duration: Histogram<'namespace' | 'source' | 'destination_service' | 'destination_version'>;
  private readonly edges = new Map<string, EdgeStats>();

  constructor(private readonly now: () => number = Date.now) {
    this.requests = new Counter({ name: 'mesh_requests_total', help: 'Requests through the mesh per edge and response code (0: no response)', labelNames: ['namespace', 'source', 'destination_service', 'destination_version', 'response_code'], registers: [this.registry] });
    this.duration = new Histogram({
      name: 'mesh_request_duration_seconds', help: 'Latency of requests through the mesh per edge, as the caller saw it',
      labelNames: ['namespace', 'source', 'destination_service', 'destination_version'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [this.registry],
    });
  }

  record(edge: Edge, code: number, ms: number): void {
    const labels = { namespace: edge.namespace, source: edge.source, destination_service: edge.service, destination_version: edge.version };
    this.requests.inc({ ...labels, response_code: String(code) });
    this.duration.observe(labels, ms / 1000);
    const k = `${edge.namespace}\u0000${edge.source}\u0000${edge.service}\u0000${edge.version}`;
    let s = this.edges.get(k);
    if (!s) this.edges.set(k, (s = { edge, slots: [] }));
    const second = Math.floor(this.now() / 1000);
    let slot = s.slots[second % SECONDS];
    if (!slot || slot.second !== second) {
      slot = { second, count: 0, errors: 0, sumMs: 0, hist: new Uint32Array(FINE.length + 1) };
      s.slots[second % SECONDS] = slot;
    }
    slot.count++;
    slot.sumMs += ms;
    if (code >= 500 || code === 0) slot.errors++;
    let b = 0;
    while (b < FINE.length && ms > FINE[b]!) b++;
    slot.hist[b]!++;
  }

  /** Edges seen in a namespace (all when undefined). */
  edgesIn(namespace?: string): Edge[] {
    return [...this.edges.values()].map((s) => s.edge).filter((e) => namespace === undefined || e.namespace === namespace);
  }

  /** What edges matching `filter` did over the last `seconds`. */
  window(filter: (e: Edge) => boolean, seconds: number): WindowStats {
    const to = Math.floor(this.now() / 1000);
    const from = to - seconds + 1;
    const hist = new Uint32Array(FINE.length + 1);
    let requests = 0;
    let errors = 0;
    let sumMs = 0;
    for (const s of this.edges.values()) {
      if (!filter(s.edge)) continue;
      for (const slot of s.slots) {
        if (!slot || slot.second < from || slot.second > to) continue;
        requests += slot.count;
        errors += slot.errors;
        sumMs += slot.sumMs;
        for (let i = 0; i < hist.length; i++) hist[i]! += slot.hist[i]!;
      }
    }
    const quantile = (q: number) => {
      if (requests === 0) return 0;
      const rank = Math.ceil(q * requests);
      let seen = 0;
      for (let i = 0; i < hist.length; i++) {
        seen += hist[i]!;
        if (seen >= rank) return i < FINE.length ? FINE[i]! : FINE[FINE.length - 1]!;
      }
      return FINE[FINE.length - 1]!;
    };
    return { requests, errors, rps: requests / seconds, errorRate: requests ? errors / requests : 0, p50Ms: quantile(0.5), p99Ms: quantile(0.99), meanMs: requests ? sumMs / requests : 0 };
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}
