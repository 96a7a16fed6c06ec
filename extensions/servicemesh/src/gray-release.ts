import type { CoreClient } from '@mortise/extension-sdk/backend';
import type { MeshState } from './mesh-state.js';
import { initialWeight } from './routing.js';
import type { Telemetry } from './telemetry.js';
import { meshGroup, meshVersion, type GrayRelease, type GrayReleaseStatus } from './types.js';

// The GrayRelease controller: from the spec (strategy, step, action) and the new version's
// measured health, the status the data plane routes by. Promote and rollback are terminal until
// the release names other versions; the automatic rollback fires when, over the analysis window,
// the new version served at least minRequests and its error rate or p99 passed the threshold.

/** What the status should be now; undefined when it already is. */
export function desiredStatus(gr: GrayRelease, measure: (seconds: number) => { requests: number; errorRate: number; p99Ms: number }): GrayReleaseStatus | undefined {
  const spec = gr.spec;
  const cur = gr.status ?? {};
  const release = `${spec.stable}->${spec.canary}`;
  const sameRelease = (cur as { release?: string }).release === release;
  const now = new Date().toISOString();
  const base = { observedGeneration: gr.metadata.generation, release } as GrayReleaseStatus & { release: string };
  const terminal = sameRelease && (cur.phase === 'Promoted' || cur.phase === 'RolledBack');
  if (terminal && !spec.action) return undefined;
  if (spec.action === 'promote') {
    if (sameRelease && cur.phase === 'Promoted') return undefined;
    return { ...base, phase: 'Promoted', canaryWeight: 100, message: `${spec.canary} promoted: it takes all traffic`, lastTransitionTime: now };
  }
  if (spec.action === 'rollback') {
    if (sameRelease && cur.phase === 'RolledBack') return undefined;
    return { ...base, phase: 'RolledBack', canaryWeight: 0, message: `rolled back to ${spec.stable} by hand`, lastTransitionTime: now };
  }
  const a = spec.analysis;
  if (a && (a.maxErrorRate !== undefined || a.maxP99Ms !== undefined)) {
    const window = a.windowSeconds ?? 30;
    const m = measure(window);
    if (m.requests >= (a.minRequests ?? 10)) {
      const why = a.maxErrorRate !== undefined && m.errorRate > a.maxErrorRate
        ? `error rate ${(m.errorRate * 100).toFixed(1)}% over ${window} s passed ${(a.maxErrorRate * 100).toFixed(1)}%`
        : a.maxP99Ms !== undefined && m.p99Ms > a.maxP99Ms ? `p99 ${m.p99Ms.toFixed(1)} ms over ${window} s passed ${a.maxP99Ms} ms` : undefined;
      if (why) return { ...base, phase: 'RolledBack', canaryWeight: 0, reason: why, message: `rolled back to ${spec.stable} automatically: ${spec.canary}'s ${why} (${m.requests} requests)`, lastTransitionTime: now };
    }
  }
  const weight = initialWeight(spec);
  const step = spec.step ?? 0;
  if (sameRelease && cur.phase === 'Progressing' && cur.canaryWeight === weight && cur.step === step && cur.observedGeneration === gr.metadata.generation) return undefined;
  const message = spec.strategy === 'mirror' ? `mirroring ${spec.stable}'s traffic to ${spec.canary}` : spec.strategy === 'blueGreen' ? (weight === 100 ? `switched to ${spec.canary}` : `${spec.canary} deployed, ${spec.stable} serving`) : `${weight}% to ${spec.canary}${spec.header ? ` (and requests with header ${spec.header.name})` : ''}`;
  return { ...base, phase: 'Progressing', canaryWeight: weight, step, message, ...(sameRelease && cur.phase === 'Progressing' ? {} : { lastTransitionTime: now }) };
}

export class GrayReleaseController {
  private timer?: NodeJS.Timeout;
  private running = false;

  constructor(private readonly d: {
    core: CoreClient;
    state: MeshState;
    /** The data plane's telemetry, with the last `seconds` of per-second figures. */
    telemetry: (seconds: number) => Promise<Telemetry>;
    /** Resolves once the state's rules are in force wherever requests are served. */
    synced: () => Promise<void>;
    intervalMs: number;
    log: (msg: string) => void;
  }) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.d.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const { core, state, log } = this.d;
      const releases = [...state.releases.values()];
      if (releases.length === 0) return;
      const telemetry = await this.d.telemetry(Math.max(...releases.map((gr) => gr.spec.analysis?.windowSeconds ?? 30)));
      for (const gr of releases) {
        const ns = gr.metadata.namespace;
        const next = desiredStatus(gr, (seconds) => telemetry.window((e) => e.namespace === ns && e.service === gr.spec.service && e.version === gr.spec.canary, seconds));
        if (!next) continue;
        // In force in the data plane before anyone can read it in the core (a rollback is
        // routed by as soon as it shows); taken back if the core does not take it.
        state.apply('GrayRelease', 'MODIFIED', { ...gr, status: next });
        await this.d.synced();
        try {
          const updated = await core.patch<GrayRelease>(`/apis/${meshGroup}/${meshVersion}/namespaces/${ns}/grayreleases/${gr.metadata.name}/status`, { status: next });
          state.apply('GrayRelease', 'MODIFIED', updated);
          if (next.phase === 'RolledBack' && next.reason) log(`GrayRelease ${ns}/${gr.metadata.name}: ${next.message}`);
        } catch (e) {
          if (state.releases.get(`${ns}/${gr.metadata.name}`)?.status === next) state.apply('GrayRelease', 'MODIFIED', gr);
          log(`GrayRelease ${ns}/${gr.metadata.name}: status not written: ${(e as Error).message}`);
        }
      }
    } finally {
      this.running = false;
    }
  }
}
