/**
 * The native edge's counters (kept by mortise_edge.lua in a shared dict, one `key\tvalue` per
 * line: `n route method code`, `s route method` seconds, `b route method le`) as Prometheus
 * text: `mortise_edge_requests_total` and the `mortise_edge_request_duration_seconds` histogram,
 * labelled as the core labels its own requests, so a dashboard adds the two.
 */
export function edgeMetricsText(stats: string, buckets: number[]): string {
  const counts = new Map<string, number>();
  const sums = new Map<string, number>();
  const perBucket = new Map<string, Map<string, number>>();
  for (const line of stats.split('\n')) {
    const f = line.split('\t');
    const value = Number(f[f.length - 1]);
    if (!Number.isFinite(value)) continue;
    if (f[0] === 'n' && f.length === 5) counts.set(`${f[1]}\t${f[2]}\t${f[3]}`, value);
    else if (f[0] === 's' && f.length === 4) sums.set(`${f[1]}\t${f[2]}`, value);
    else if (f[0] === 'b' && f.length === 5) {
      const series = `${f[1]}\t${f[2]}`;
      let m = perBucket.get(series);
      if (!m) perBucket.set(series, (m = new Map()));
      m.set(f[3]!, value);
    }
  }
  const out: string[] = [
    '# HELP mortise_edge_requests_total Requests the native edge answered from the core\'s decisions, by route, method and status code',
    '# TYPE mortise_edge_requests_total counter',
  ];
  for (const [key, n] of [...counts].sort(([a], [b]) => a.localeCompare(b))) {
    const [route, method, code] = key.split('\t');
    out.push(`mortise_edge_requests_total{route="${label(route!)}",method="${label(method!)}",code="${label(code!)}"} ${n}`);
  }
  out.push('# HELP mortise_edge_request_duration_seconds Latency of the requests the native edge answered, by route and method');
  out.push('# TYPE mortise_edge_request_duration_seconds histogram');
  const series = new Set([...sums.keys(), ...perBucket.keys()]);
  for (const key of [...series].sort()) {
    const [route, method] = key.split('\t');
    const labels = `route="${label(route!)}",method="${label(method!)}"`;
    const m = perBucket.get(key) ?? new Map<string, number>();
    let cumulative = 0;
    for (const b of buckets) {
      // Lua's tostring writes the bounds as JavaScript does (0.0005, 1, 2.5).
      cumulative += m.get(String(b)) ?? 0;
      out.push(`mortise_edge_request_duration_seconds_bucket{${labels},le="${b}"} ${cumulative}`);
    }
    let total = 0;
    for (const [k, n] of counts) if (k.startsWith(`${key}\t`)) total += n;
    out.push(`mortise_edge_request_duration_seconds_bucket{${labels},le="+Inf"} ${total}`);
    out.push(`mortise_edge_request_duration_seconds_sum{${labels}} ${sums.get(key) ?? 0}`);
    out.push(`mortise_edge_request_duration_seconds_count{${labels}} ${total}`);
  }
  return `${out.join('\n')}\n`;
}

function label(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
