import { Pool } from 'undici';
import type { CircuitBreakerSpec } from './types.js';

// Endpoint selection with outlier ejection (as Envoy's: an endpoint answering N consecutive 5xx
// or failing to connect is left out for baseEjectionTime × times ejected, never more than
// maxEjectionPercent of a version at once), and the connection pools to endpoints (undici, kept
// alive; maxConnections per endpoint from the CircuitBreaker, in pools of the service's version
// alone: as Envoy's limits are per cluster, two services or versions sharing an endpoint each get
// their own places). Outlier detection is per cluster too (Envoy's is a cluster's, of its hosts):
// an endpoint's health is that of (namespace/service/version, url), so one service's 5xx streak
// at an address another service also uses ejects it for the first only.

/** An endpoint's pool's connections where no CircuitBreaker sets maxConnections. */
export const POOL_CONNECTIONS = 256;

/** Envoy's cluster, in the mesh's terms: a service's version (what limits and outlier detection are per). */
export function clusterOf(namespace: string, service: string, version: string): string {
  return `${namespace}/${service}/${version}`;
}

export interface Health { consecutive: number; ejectedUntil: number; ejections: number }

export interface EndpointState { url: string; ejected: boolean; consecutive5xx: number; ejections: number }

/**
 * Where a data-plane worker sends its endpoints' outcomes, so that outlier detection counts and
 * ejects across every worker as one process would (the backend keeps the count and tells all).
 */
export interface SharedHealth {
  /** A failure; resolves once every data-plane process has the endpoint's new health. */
  failed(cluster: string, url: string, siblings: string[], breaker: CircuitBreakerSpec | undefined): Promise<void>;
  /** An answer after failures: the count restarts everywhere (not waited for). */
  recovered(cluster: string, url: string): void;
}

export class Endpoints {
  /** "<cluster> <url>" → health. */
  private readonly health = new Map<string, Health>();
  private readonly cursor = new Map<string, number>();
  /** url (no limit) or "<cluster> <url> <connections>" → pool. */
  private readonly pools = new Map<string, Pool>();
  /** Set in a data-plane worker: outcomes are counted by the backend. */
  shared?: SharedHealth;

  constructor(private readonly now: () => number = Date.now) {}

  /** Every (cluster, endpoint)'s health seen so far. */
  entries(): Array<[string, string, Health]> {
    return [...this.health].map(([k, h]) => {
      const i = k.indexOf(' ');
      return [k.slice(0, i), k.slice(i + 1), { ...h }];
    });
  }

  /** An endpoint's health in a cluster as the backend counted it. */
  set(cluster: string, url: string, health: Health): void {
    Object.assign(this.h(cluster, url), health);
  }

  private h(cluster: string, url: string): Health {
    const k = `${cluster} ${url}`;
    let h = this.health.get(k);
    if (!h) this.health.set(k, (h = { consecutive: 0, ejectedUntil: 0, ejections: 0 }));
    return h;
  }

  private ejectedUntil(cluster: string, url: string): number {
    return this.health.get(`${cluster} ${url}`)?.ejectedUntil ?? 0;
  }

  /** Round robin over the cluster's endpoints not ejected; all of them when every one is (panic, as Envoy). */
  pick(cluster: string, urls: string[]): string | undefined {
    if (urls.length <= 1) return urls[0];
    const t = this.now();
    const live = urls.filter((u) => this.ejectedUntil(cluster, u) <= t);
    const from = live.length > 0 ? live : urls;
    const i = (this.cursor.get(cluster) ?? 0) % from.length;
    this.cursor.set(cluster, i + 1);
    return from[i];
  }

  /**
   * An answer (or a connection failure, `failed`) from an endpoint of a version with these
   * siblings. In a worker, a failure returns what to wait for before answering the caller.
   */
  report(cluster: string, url: string, failed: boolean, siblings: string[], breaker: CircuitBreakerSpec | undefined): Promise<void> | undefined {
    if (this.shared) {
      if (failed) return this.shared.failed(cluster, url, siblings, breaker);
      const h = this.health.get(`${cluster} ${url}`);
      if (h && h.consecutive > 0) {
        h.consecutive = 0;
        this.shared.recovered(cluster, url);
      }
      return undefined;
    }
    this.count(cluster, url, failed, siblings, breaker);
    return undefined;
  }

  /** Counts an outcome in a cluster; ejects after `consecutive5xxErrors` failures in a row. */
  count(cluster: string, url: string, failed: boolean, siblings: string[], breaker: CircuitBreakerSpec | undefined): Health {
    const h = this.h(cluster, url);
    if (!failed) {
      h.consecutive = 0;
      return h;
    }
    h.consecutive++;
    const od = breaker?.outlierDetection;
    if (!od) return h;
    const t = this.now();
    if (h.consecutive < (od.consecutive5xxErrors ?? 5) || h.ejectedUntil > t) return h;
    const ejected = siblings.filter((u) => u !== url && this.ejectedUntil(cluster, u) > t).length;
    if (((ejected + 1) / siblings.length) * 100 > (od.maxEjectionPercent ?? 100)) return h;
    h.ejections++;
    h.ejectedUntil = t + (od.baseEjectionTimeMs ?? 30_000) * h.ejections;
    h.consecutive = 0;
    return h;
  }

  /** An endpoint's outlier-detection state in a cluster. */
  state(cluster: string, url: string): EndpointState {
    const h = this.health.get(`${cluster} ${url}`);
    return { url, ejected: (h?.ejectedUntil ?? 0) > this.now(), consecutive5xx: h?.consecutive ?? 0, ejections: h?.ejections ?? 0 };
  }

  /** A cluster's own pool where a CircuitBreaker limits it, else the endpoint's shared one. */
  private key(url: string, limited: boolean, maxConnections: number | undefined, cluster: string): string {
    return limited ? `${cluster} ${url} ${maxConnections ?? POOL_CONNECTIONS}` : url;
  }

  /**
   * The pool a request of `cluster` (namespace/service/version) sends to `url` through. Without
   * limits every cluster shares the endpoint's pool; `limited` (maxConnections or
   * maxPendingRequests set) gives the cluster its own, so its places and its queue are its own.
   */
  pool(url: string, maxConnections: number | undefined, cluster: string, limited = maxConnections !== undefined): Pool {
    const key = this.key(url, limited, maxConnections, cluster);
    let p = this.pools.get(key);
    if (!p) {
      p = new Pool(url, { connections: maxConnections ?? POOL_CONNECTIONS, pipelining: 1, keepAliveTimeout: 30_000, connect: { timeout: 5_000 } });
      this.pools.set(key, p);
    }
    return p;
  }

  /**
   * Requests of `cluster` waiting for a place (every connection of their endpoint's pool busy),
   * over the version's endpoints: what CircuitBreaker maxPendingRequests bounds.
   */
  queued(cluster: string, urls: string[], maxConnections: number | undefined): number {
    let n = 0;
    for (const url of urls) {
      const p = this.pools.get(this.key(url, true, maxConnections, cluster));
      if (p) n += p.stats.queued;
    }
    return n;
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close().catch(() => undefined)));
  }
}
