import { prometheusText, type Series } from './prometheus-text.js';

// Per edge (caller → service/version): requests, errors and latency. Plain counters and histogram
// buckets per edge, kept by the data plane with one map lookup per request and rendered in
// Prometheus' text format only when scraped; and per second for the last few minutes so the
// topology can show rates and the release analysis can read a window's error rate and p99.
// With several data-plane workers each keeps its own and the backend merges their snapshots.

export interface Edge { namespace: string; source: string; service: string; version: string }
const SECONDS = 600;
/** Log-spaced latency buckets for windowed quantiles: 0.25 ms × 1.2^i, up to ~ 2 min. */
const FINE = Array.from({ length: 72 }, (_, i) => 0.25 * 1.2 ** i);
/** The exported histogram's upper bounds (seconds). */
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface Slot { second: number; count: number; errors: number; sumMs: number; hist: number[] }
interface EdgeStats {
  edge: Edge;
  /** Response code → requests (0: no response). */
  codes: Map<number, number>;
  /** Cumulative counts are made at render time; these are per bucket, the last one +Inf. */
  buckets: number[];
  sumSeconds: number;
  count: number;
  slots: Array<Slot | undefined>;
}

/** What a Telemetry holds, as plain data (sent from a worker to the backend). */
export interface TelemetrySnapshot {
  edges: Array<{ edge: Edge; codes: Array<[number, number]>; buckets: number[]; sumSeconds: number; count: number; slots: Slot[] }>;
}

export interface WindowStats { requests: number; errors: number; rps: number; errorRate: number; p50Ms: number; p99Ms: number; meanMs: number }

const edgeKey = (e: Edge) => `${e.namespace}\u0000${e.source}\u0000${e.service}\u0000${e.version}`;

export class Telemetry {
  static readonly contentType = 'text/plain; version=0.0.4; charset=utf-8';
  private readonly edges = new Map<string, EdgeStats>();

  constructor(private readonly now: () => number = Date.now) {}

  private stats(edge: Edge): EdgeStats {
    const k = edgeKey(edge);
    let s = this.edges.get(k);
    if (!s) this.edges.set(k, (s = { edge: { ...edge }, codes: new Map(), buckets: new Array<number>(BUCKETS.length + 1).fill(0), sumSeconds: 0, count: 0, slots: [] }));
    return s;
  }

  private slot(s: EdgeStats, second: number): Slot {
    let slot = s.slots[second % SECONDS];
    if (!slot || slot.second !== second) {
      slot = { second, count: 0, errors: 0, sumMs: 0, hist: new Array<number>(FINE.length + 1).fill(0) };
      s.slots[second % SECONDS] = slot;
    }
    return slot;
  }

  record(edge: Edge, code: number, ms: number): void {
    const s = this.stats(edge);
    s.codes.set(code, (s.codes.get(code) ?? 0) + 1);
    const seconds = ms / 1000;
    let b = 0;
    while (b < BUCKETS.length && seconds > BUCKETS[b]!) b++;
    s.buckets[b]!++;
    s.sumSeconds += seconds;
    s.count++;
    const slot = this.slot(s, Math.floor(this.now() / 1000));
    slot.count++;
    slot.sumMs += ms;
    if (code >= 500 || code === 0) slot.errors++;
    let f = 0;
    while (f < FINE.length && ms > FINE[f]!) f++;
    slot.hist[f]!++;
  }

  /**
   * Requests counted elsewhere (nginx's Lua module): `count` of them in `second` with this code,
   * in the fine latency bucket `fine` and the exported bucket `bucket` (indexes as record() makes them).
   */
  add(edge: Edge, second: number, code: number, fine: number, bucket: number, count: number): void {
    const s = this.stats(edge);
    s.codes.set(code, (s.codes.get(code) ?? 0) + count);
    s.buckets[Math.min(bucket, BUCKETS.length)]! += count;
    s.count += count;
    const slot = this.slot(s, second);
    slot.count += count;
    if (code >= 500 || code === 0) slot.errors += count;
    slot.hist[Math.min(fine, FINE.length)]! += count;
  }

  /** Their summed latency (ms), with add(). */
  addDuration(edge: Edge, second: number, ms: number): void {
    const s = this.stats(edge);
    s.sumSeconds += ms / 1000;
    this.slot(s, second).sumMs += ms;
  }

  /** Everything, with the per-second slots of the last `seconds` only. */
  snapshot(seconds = SECONDS): TelemetrySnapshot {
    const from = Math.floor(this.now() / 1000) - seconds + 1;
    return {
      edges: [...this.edges.values()].map((s) => ({
        edge: s.edge, codes: [...s.codes], buckets: s.buckets, sumSeconds: s.sumSeconds, count: s.count,
        slots: s.slots.filter((x): x is Slot => x !== undefined && x.second >= from),
      })),
    };
  }

  /** Adds a snapshot's counts to these (the backend merging its workers'). */
  absorb(snap: TelemetrySnapshot): void {
    for (const e of snap.edges) {
      const s = this.stats(e.edge);
      for (const [code, n] of e.codes) s.codes.set(code, (s.codes.get(code) ?? 0) + n);
      e.buckets.forEach((n, i) => (s.buckets[i]! += n));
      s.sumSeconds += e.sumSeconds;
      s.count += e.count;
      for (const x of e.slots) {
        const slot = this.slot(s, x.second);
        slot.count += x.count;
        slot.errors += x.errors;
        slot.sumMs += x.sumMs;
        x.hist.forEach((n, i) => (slot.hist[i]! += n));
      }
    }
  }

  static merged(snaps: TelemetrySnapshot[], now: () => number = Date.now): Telemetry {
    const t = new Telemetry(now);
    for (const s of snaps) t.absorb(s);
    return t;
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

  /** Prometheus text: mesh_requests_total per edge and code, mesh_request_duration_seconds per edge. */
  metrics(): string {
    const requests: Series[] = [];
    const durations: Series[] = [];
    const sorted = [...this.edges.values()].sort((a, b) => edgeKey(a.edge).localeCompare(edgeKey(b.edge)));
    for (const s of sorted) {
      const labels = { namespace: s.edge.namespace, source: s.edge.source, destination_service: s.edge.service, destination_version: s.edge.version };
      for (const [code, n] of [...s.codes].sort((a, b) => a[0] - b[0])) requests.push({ labels: { ...labels, response_code: String(code) }, value: n });
      durations.push({ labels, histogram: { bounds: BUCKETS, counts: s.buckets, sum: s.sumSeconds, count: s.count } });
    }
    return prometheusText([
      { name: 'mesh_requests_total', help: 'Requests through the mesh per edge and response code (0: no response)', type: 'counter', series: requests },
      { name: 'mesh_request_duration_seconds', help: 'Latency of requests through the mesh per edge, as the caller saw it', type: 'histogram', series: durations },
    ]);
  }
}
