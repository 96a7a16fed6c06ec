import { Pool } from 'undici';
import type { CircuitBreakerSpec } from './types.js';

// Endpoint selection with outlier ejection (as Envoy's: an endpoint answering N consecutive 5xx
// or failing to connect is left out for baseEjectionTime × times ejected, never more than
// maxEjectionPercent of a version at once), and the connection pools to endpoints (undici, kept
// alive; maxConnections per endpoint from the CircuitBreaker).

interface Health { consecutive: number; ejectedUntil: number; ejections: number }

export interface EndpointState { url: string; ejected: boolean; consecutive5xx: number; ejections: number }

export class Endpoints {
  private readonly health = new Map<string, Health>();
  private readonly cursor = new Map<string, number>();
  private readonly pools = new Map<string, Pool>();

  constructor(private readonly now: () => number = Date.now) {}

  private h(url: string): Health {
    let h = this.health.get(url);
    if (!h) this.health.set(url, (h = { consecutive: 0, ejectedUntil: 0, ejections: 0 }));
    return h;
  }

  /** Round robin over the endpoints not ejected; all of them when every one is (panic, as Envoy). */
  pick(key: string, urls: string[]): string | undefined {
    if (urls.length === 0) return undefined;
    const t = this.now();
    const live = urls.filter((u) => (this.health.get(u)?.ejectedUntil ?? 0) <= t);
    const from = live.length > 0 ? live : urls;
    const i = (this.cursor.get(key) ?? 0) % from.length;
    this.cursor.set(key, i + 1);
    return from[i];
  }

  /** An answer (or a connection failure, `failed`) from an endpoint of a version with these siblings. */
  report(url: string, failed: boolean, siblings: string[], breaker: CircuitBreakerSpec | undefined): void {
    const h = this.h(url);
    if (!failed) {
      h.consecutive = 0;
      return;
    }
    h.consecutive++;
    const od = breaker?.outlierDetection;
    if (!od) return;
    const t = this.now();
    if (h.consecutive < (od.consecutive5xxErrors ?? 5) || h.ejectedUntil > t) return;
    const ejected = siblings.filter((u) => u !== url && (this.health.get(u)?.ejectedUntil ?? 0) > t).length;
    if (((ejected + 1) / siblings.length) * 100 > (od.maxEjectionPercent ?? 100)) return;
    h.ejections++;
    h.ejectedUntil = t + (od.baseEjectionTimeMs ?? 30_000) * h.ejections;
    h.consecutive = 0;
  }

  state(url: string): EndpointState {
    const h = this.health.get(url);
    return { url, ejected: (h?.ejectedUntil ?? 0) > this.now(), consecutive5xx: h?.consecutive ?? 0, ejections: h?.ejections ?? 0 };
  }

  pool(url: string, maxConnections: number | undefined): Pool {
    const k = `${url}#${maxConnections ?? ''}`;
    let p = this.pools.get(k);
    if (!p) {
      p = new Pool(url, { connections: maxConnections ?? 256, pipelining: 1, keepAliveTimeout: 30_000, connect: { timeout: 5_000 } });
      this.pools.set(k, p);
    }
    return p;
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close().catch(() => undefined)));
  }
}
