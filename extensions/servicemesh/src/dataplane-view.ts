import type { DataPlane } from './dataplane.js';
import type { Endpoints } from './endpoints.js';
import type { Telemetry } from './telemetry.js';
import type { SpanStore } from './tracing.js';

// What the APIs, the topology and the GrayRelease controller read of the data plane: its
// telemetry, endpoints' health and spans. One process answers from its own objects; several
// data-plane workers answer with their snapshots merged, so every API reads the same either way.

export type TraceSelection = { namespace: string } | { traceIds: string[] };

export interface DataPlaneView {
  /** Every edge's counters, with the per-second slots of the last `seconds` (default: all kept). */
  telemetry(seconds?: number): Promise<Telemetry>;
  endpoints(): Promise<Endpoints>;
  /** A store holding (at least) every span of the traces touching the namespace, or of these traces. */
  traces(which: TraceSelection): Promise<SpanStore>;
  /** Resolves once the rules in this process's state are in force wherever requests are served. */
  synced(): Promise<void>;
}

/** The data plane in this process. */
export class LocalDataPlaneView implements DataPlaneView {
  constructor(private readonly plane: DataPlane) {}
  listen(port: number, host?: string): Promise<string> {
    return this.plane.listen(port, host);
  }
  telemetry(): Promise<Telemetry> {
    return Promise.resolve(this.plane.d.telemetry);
  }
  endpoints(): Promise<Endpoints> {
    return Promise.resolve(this.plane.endpoints);
  }
  traces(): Promise<SpanStore> {
    return Promise.resolve(this.plane.d.spans);
  }
  synced(): Promise<void> {
    return Promise.resolve();
  }
}
