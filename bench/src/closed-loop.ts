import { Agent, request } from 'undici';

export interface Measure {
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  errors: number;
}

/** A closed loop of `concurrency` workers for `seconds`; latencies in ms. */
export async function closedLoop(concurrency: number, seconds: number, one: (i: number) => Promise<boolean>): Promise<Measure> {
  const latencies: number[] = [];
  let errors = 0;
  let n = 0;
  const end = Date.now() + seconds * 1000;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (Date.now() < end) {
      const t0 = performance.now();
      const ok = await one(n++).catch(() => false);
      latencies.push(performance.now() - t0);
      if (!ok) errors++;
    }
  }));
  latencies.sort((a, b) => a - b);
  const at = (p: number) => Number(latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!.toFixed(2));
  return { rps: Math.round(latencies.length / seconds), p50: at(50), p90: at(90), p99: at(99), errors };
}

/** An API server as a client sees it: where, whose token, and a TLS connection pool trusting its CA. */
export interface ApiTarget {
  base: string;
  token: string;
  dispatcher: Agent;
}

/** One JSON call (undici over keep-alive TLS); true on a 2xx. */
export async function call(t: ApiTarget, method: 'GET' | 'POST', path: string, body?: unknown): Promise<boolean> {
  const res = await request(`${t.base}${path}`, {
    method, dispatcher: t.dispatcher,
    headers: { authorization: `Bearer ${t.token}`, accept: 'application/json', ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  await res.body.text();
  return res.statusCode >= 200 && res.statusCode < 300;
}
