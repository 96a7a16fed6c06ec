import autocannon from 'autocannon';

export interface LoadResult {
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  errors: number;
  non2xx: number;
  requests: number;
}

export interface LoadSpec {
  url: string;
  method?: 'GET' | 'POST' | 'PATCH' | 'PUT';
  path: string;
  headers?: Record<string, string>;
  /** Makes each request's body (unique names for creates). */
  body?: (i: number) => string;
  connections: number;
  durationSec: number;
}

/** Runs autocannon against one endpoint; latencies in ms. */
export async function load(spec: LoadSpec): Promise<LoadResult> {
  let i = 0;
  const result = await autocannon({
    url: spec.url,
    connections: spec.connections,
    pipelining: 1,
    duration: spec.durationSec,
    requests: [{
      method: spec.method ?? 'GET',
      path: spec.path,
      headers: spec.headers,
      ...(spec.body ? { setupRequest: (req: autocannon.Request) => ({ ...req, body: spec.body!(i++) }) } : {}),
    }],
  });
  return {
    rps: Math.round(result.requests.average),
    p50: result.latency.p50,
    p90: result.latency.p90,
    p99: result.latency.p99,
    errors: result.errors,
    non2xx: result.non2xx,
    requests: result.requests.total,
  };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}
