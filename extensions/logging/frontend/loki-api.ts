import type { ApiClient } from '@mortise/extension-sdk/console';

// The logging backend's Loki API through the gateway, as the console calls it (the session
// cookie is the credential; the backend scopes every answer to what the user may read).

export const base = '/proxy/logging/loki/api/v1';

export interface StreamResult { stream: Record<string, string>; values: Array<[string, string]> }
export interface LogLine { ts: string; line: string; labels: Record<string, string> }

const qs = (params: Record<string, string>) => new URLSearchParams(params).toString();
export const nsOf = (ms: number) => `${BigInt(Math.round(ms)) * 1_000_000n}`;

export async function queryLines(api: ApiClient, query: string, startMs: number, endMs: number, limit = 500, direction: 'backward' | 'forward' = 'backward'): Promise<LogLine[]> {
  const r = await api.request<{ data: { result: StreamResult[] } }>(`${base}/query_range?${qs({ query, start: nsOf(startMs), end: nsOf(endMs), limit: String(limit), direction })}`);
  const lines = r.data.result.flatMap((s) => s.values.map(([ts, line]) => ({ ts, line, labels: s.stream })));
  return lines.sort((a, b) => (BigInt(a.ts) < BigInt(b.ts) ? 1 : -1) * (direction === 'backward' ? 1 : -1));
}

/** Lines per step over the range, for the histogram: `sum(count_over_time(<query> [step]))`. */
export async function histogram(api: ApiClient, query: string, startMs: number, endMs: number): Promise<Array<{ t: number; n: number }>> {
  const step = Math.max(1, Math.ceil((endMs - startMs) / 1000 / 60));
  // Whole seconds, so the points fall on start + k·step exactly.
  const [start, end] = [Math.floor(startMs / 1000), Math.ceil(endMs / 1000)];
  const metric = `sum(count_over_time(${query} [${step}s]))`;
  const r = await api.request<{ data: { result: Array<{ values: Array<[number, string]> }> } }>(`${base}/query_range?${qs({ query: metric, start: String(start), end: String(end), step: String(step) })}`);
  const counts = new Map((r.data.result[0]?.values ?? []).map(([t, v]) => [Math.round(t), Number(v)]));
  const out: Array<{ t: number; n: number }> = [];
  for (let t = start; t <= end; t += step) out.push({ t: t * 1000, n: counts.get(t) ?? 0 });
  return out;
}

export async function labelNames(api: ApiClient): Promise<string[]> {
  return (await api.request<{ data: string[] }>(`${base}/labels`)).data;
}

export async function labelValues(api: ApiClient, name: string): Promise<string[]> {
  return (await api.request<{ data: string[] }>(`${base}/label/${encodeURIComponent(name)}/values`)).data;
}

/** The websocket of a live tail (same origin: the session cookie goes with it). */
export function tailSocket(query: string, fromMs: number): WebSocket {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return new WebSocket(`${proto}//${location.host}${base}/tail?${qs({ query, start: nsOf(fromMs), limit: '100' })}`);
}

/** Escapes a label value for a LogQL string. */
export const quote = (s: string) => JSON.stringify(s);
