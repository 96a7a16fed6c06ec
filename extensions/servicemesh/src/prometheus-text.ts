// Prometheus' text exposition format (0.0.4) for counters and histograms whose values are already
// counted: the data plane keeps plain numbers per edge, and this renders them when scraped.
// (prom-client's metrics count as they go and cannot be handed finished histogram buckets.)

export interface Series {
  labels: Record<string, string>;
  value?: number;
  /** Per-bucket counts (not cumulative) for `bounds`, then one for +Inf. */
  histogram?: { bounds: number[]; counts: number[]; sum: number; count: number };
}

export interface Family { name: string; help: string; type: 'counter' | 'histogram'; series: Series[] }

const escapeValue = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const escapeHelp = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

function labelText(labels: Record<string, string>, extra?: [string, string]): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeValue(v)}"`);
  if (extra) parts.push(`${extra[0]}="${escapeValue(extra[1])}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

const num = (n: number) => (Number.isFinite(n) ? String(n) : n > 0 ? '+Inf' : n < 0 ? '-Inf' : 'NaN');

export function prometheusText(families: Family[]): string {
  const out: string[] = [];
  for (const f of families) {
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.series) {
      if (!s.histogram) {
        out.push(`${f.name}${labelText(s.labels)} ${num(s.value ?? 0)}`);
        continue;
      }
      const h = s.histogram;
      let cumulative = 0;
      h.bounds.forEach((le, i) => {
        cumulative += h.counts[i] ?? 0;
        out.push(`${f.name}_bucket${labelText(s.labels, ['le', String(le)])} ${cumulative}`);
      });
      out.push(`${f.name}_bucket${labelText(s.labels, ['le', '+Inf'])} ${h.count}`);
      out.push(`${f.name}_sum${labelText(s.labels)} ${num(h.sum)}`, `${f.name}_count${labelText(s.labels)} ${h.count}`);
    }
  }
  return `${out.join('\n')}\n`;
}
