import { labelValue, type Labels, type LogStore, type StoredStream } from './log-store.js';
import { matches, type LogExpr, type Matcher, type MetricExpr, type RangeExpr, type VectorExpr } from './logql.js';
import { requiredSubstrings, runPipeline } from './pipeline.js';
import { labelsWeight, MAX_METRIC_LABELS, MAX_METRIC_POINTS, MAX_METRIC_SERIES, MAX_QUERY_MS, MAX_RESULT_CHARS, QueryLimitError } from './query-limits.js';
import { sortedLabels } from './sqlite-log-store.js';

// Evaluates parsed LogQL against a LogStore, within the namespaces the caller may read —
// the scope is applied before any matcher, so no matcher can widen it. Results have Loki's shapes.

/**
 * The namespaces a caller may read ('' stands for the platform's own logs), or 'all'. As a map,
 * each namespace's lines from that time on (its creation): a namespace deleted and created again
 * under the same name, by another tenant, does not inherit the lines of the one before.
 */
export type Scope = ReadonlySet<string> | ReadonlyMap<string, bigint> | 'all';

/** The earliest line of `namespace` the scope admits. */
export function visibleFromNs(scope: Scope, namespace: string): bigint {
  return scope instanceof Map ? (scope.get(namespace) ?? 0n) : -(1n << 63n);
}

export interface StreamResult { stream: Labels; values: Array<[string, string]> }
export interface MatrixResult { metric: Labels; values: Array<[number, string]> }
export interface VectorResult { metric: Labels; value: [number, string] }

/** At most this many samples go into one metric query (it is evaluated in memory). */
export const MAX_METRIC_SAMPLES = 5_000_000;

export { QueryLimitError } from './query-limits.js';

/** The streams in scope with a line the scope admits, narrowed by the matchers. */
export function selectStreams(store: LogStore, scope: Scope, matchers: Matcher[], range?: { startNs: bigint; endNs: bigint }): StoredStream[] {
  return store.streams(scope === 'all' ? 'all' : new Set(scope.keys()), range).filter((s) => s.lastNs >= visibleFromNs(scope, s.namespace) && matchers.every((m) => matches(m, labelValue(s.labels, m.name))));
}

const key = (labels: Labels) => JSON.stringify(sortedLabels(labels));

/** The running query's time budget (a thread evaluates one query at a time, synchronously). */
let budget = { until: Infinity, ms: 0 };

function timed<T>(ms: number, run: () => T): T {
  const outer = budget;
  budget = { until: Math.min(outer.until, Date.now() + ms), ms };
  try {
    return run();
  } finally {
    budget = outer;
  }
}

/** Checked for every line read: one line's pipeline can cost a tenth of a second. */
function inTime(): void {
  if (Date.now() > budget.until) throw new QueryLimitError(`the query ran longer than ${budget.ms} ms: narrow the selector or the time range, or parse less`);
}

export function logQuery(store: LogStore, scope: Scope, expr: LogExpr, q: { startNs: bigint; endNs: bigint; limit: number; direction: 'forward' | 'backward' }, budgetMs = MAX_QUERY_MS): StreamResult[] {
  return timed(budgetMs, () => logLines(store, scope, expr, q));
}

function logLines(store: LogStore, scope: Scope, expr: LogExpr, q: { startNs: bigint; endNs: bigint; limit: number; direction: 'forward' | 'backward' }): StreamResult[] {
  const streams = selectStreams(store, scope, expr.matchers, q);
  const byId = new Map(streams.map((s) => [s.id, s]));
  const out = new Map<string, StreamResult>();
  let n = 0;
  let chars = 0;
  if (q.limit <= 0) return [];
  for (const e of store.entries({ streamIds: [...byId.keys()], startNs: q.startNs, endNs: q.endNs, direction: q.direction, contains: requiredSubstrings(expr.stages) })) {
    inTime();
    const s = byId.get(e.streamId)!;
    if (e.tsNs < visibleFromNs(scope, s.namespace)) continue;
    const r = runPipeline(expr.stages, e.line, s.labels);
    if (!r) continue;
    const k = key(r.labels);
    let group = out.get(k);
    if (!group) {
      out.set(k, (group = { stream: sortedLabels(r.labels), values: [] }));
      chars += labelsWeight(r.labels);
    }
    chars += r.line.length;
    if (chars > MAX_RESULT_CHARS) throw new QueryLimitError(`the answer holds more than ${MAX_RESULT_CHARS} characters of lines and labels: lower the limit or narrow the query`);
    group.values.push([e.tsNs.toString(), r.line]);
    if (++n >= q.limit) break;
  }
  return [...out.values()];
}

interface Series { labels: Labels; ts: number[]; bytes: number[] }

/** Every sample a range expression sees in [startMs - range, endMs], per series, in time order. */
function samples(store: LogStore, scope: Scope, expr: RangeExpr, startMs: number, endMs: number): Map<string, Series> {
  const from = BigInt(startMs - expr.rangeMs) * 1_000_000n;
  const to = BigInt(endMs) * 1_000_000n + 1n;
  const streams = selectStreams(store, scope, expr.log.matchers, { startNs: from, endNs: to });
  const byId = new Map(streams.map((s) => [s.id, s]));
  const series = new Map<string, Series>();
  let n = 0;
  let labelCount = 0;
  for (const e of store.entries({ streamIds: [...byId.keys()], startNs: from, endNs: to, direction: 'forward', contains: requiredSubstrings(expr.log.stages) })) {
    inTime();
    const s = byId.get(e.streamId)!;
    if (e.tsNs < visibleFromNs(scope, s.namespace)) continue;
    const r = runPipeline(expr.log.stages, e.line, s.labels);
    if (!r) continue;
    if (++n > MAX_METRIC_SAMPLES) throw new QueryLimitError(`the query reads more than ${MAX_METRIC_SAMPLES} lines: narrow the selector or the time range`);
    const labels = { ...r.labels };
    delete labels.__error__;
    const k = key(labels);
    let out = series.get(k);
    if (!out) {
      if (series.size >= MAX_METRIC_SERIES) throw new QueryLimitError(`the query makes more than ${MAX_METRIC_SERIES} series: aggregate with sum by (…) over fewer labels, or narrow the selector`);
      labelCount += Object.keys(labels).length;
      if (labelCount > MAX_METRIC_LABELS) throw new QueryLimitError(`the query's series hold more than ${MAX_METRIC_LABELS} labels: parse fewer fields, or narrow the selector`);
      series.set(k, (out = { labels: sortedLabels(labels), ts: [], bytes: [] }));
    }
    out.ts.push(Number(e.tsNs / 1_000_000n));
    out.bytes.push(Buffer.byteLength(r.line));
  }
  return series;
}

type Points = Map<string, { labels: Labels; points: Map<number, number> }>;

function evalRange(store: LogStore, scope: Scope, expr: RangeExpr, steps: number[]): Points {
  const out: Points = new Map();
  if (steps.length === 0) return out;
  const all = samples(store, scope, expr, steps[0]!, steps[steps.length - 1]!);
  const seconds = expr.rangeMs / 1000;
  let total = 0;
  for (const [k, s] of all) {
    inTime();
    const points = new Map<number, number>();
    // Sliding window (t - range, t] over time-ordered samples.
    let lo = 0;
    let hi = 0;
    let bytes = 0;
    for (const t of steps) {
      while (hi < s.ts.length && s.ts[hi]! <= t) bytes += s.bytes[hi++]!;
      while (lo < hi && s.ts[lo]! <= t - expr.rangeMs) bytes -= s.bytes[lo++]!;
      const count = hi - lo;
      if (count === 0) continue;
      const v = expr.fn === 'count_over_time' ? count : expr.fn === 'rate' ? count / seconds : expr.fn === 'bytes_over_time' ? bytes : bytes / seconds;
      if (++total > MAX_METRIC_POINTS) throw new QueryLimitError(`the query makes more than ${MAX_METRIC_POINTS} points (series × steps): use a larger step, a shorter range or fewer series`);
      points.set(t, v);
    }
    if (points.size) out.set(k, { labels: s.labels, points });
  }
  return out;
}

function evalVector(store: LogStore, scope: Scope, expr: VectorExpr, steps: number[]): Points {
  const inner = evalMetric(store, scope, expr.inner, steps);
  const groups = new Map<string, { labels: Labels; acc: Map<number, number[]> }>();
  for (const { labels, points } of inner.values()) {
    const g: Labels = {};
    if (expr.grouping && !expr.grouping.without) for (const l of expr.grouping.labels) { const v = labelValue(labels, l); if (v !== undefined) g[l] = v; }
    if (expr.grouping?.without) for (const [l, v] of Object.entries(labels)) { if (!expr.grouping.labels.includes(l)) g[l] = v; }
    const k = key(g);
    let group = groups.get(k);
    if (!group) groups.set(k, (group = { labels: sortedLabels(g), acc: new Map() }));
    for (const [t, v] of points) {
      const list = group.acc.get(t) ?? [];
      list.push(v);
      group.acc.set(t, list);
    }
  }
  const out: Points = new Map();
  for (const [k, g] of groups) {
    const points = new Map<number, number>();
    for (const [t, vs] of g.acc) {
      const sum = vs.reduce((a, b) => a + b, 0);
      points.set(t, expr.op === 'sum' ? sum : expr.op === 'count' ? vs.length : expr.op === 'min' ? Math.min(...vs) : expr.op === 'max' ? Math.max(...vs) : sum / vs.length);
    }
    out.set(k, { labels: g.labels, points });
  }
  return out;
}

function evalMetric(store: LogStore, scope: Scope, expr: MetricExpr, steps: number[]): Points {
  return expr.type === 'range' ? evalRange(store, scope, expr, steps) : evalVector(store, scope, expr, steps);
}

/** Prometheus formats sample values as Go's strconv.FormatFloat(v, 'f', -1, 64). */
const formatValue = (v: number) => (Number.isInteger(v) ? v.toFixed(0) : String(v));

export function metricRangeQuery(store: LogStore, scope: Scope, expr: MetricExpr, startMs: number, endMs: number, stepMs: number, budgetMs = MAX_QUERY_MS): MatrixResult[] {
  return timed(budgetMs, () => matrix(store, scope, expr, startMs, endMs, stepMs));
}

function matrix(store: LogStore, scope: Scope, expr: MetricExpr, startMs: number, endMs: number, stepMs: number): MatrixResult[] {
  const steps: number[] = [];
  for (let t = startMs; t <= endMs; t += stepMs) steps.push(t);
  return [...evalMetric(store, scope, expr, steps).values()].map(({ labels, points }) => ({
    metric: labels,
    values: [...points].sort((a, b) => a[0] - b[0]).map(([t, v]) => [t / 1000, formatValue(v)] as [number, string]),
  }));
}

export function metricInstantQuery(store: LogStore, scope: Scope, expr: MetricExpr, atMs: number, budgetMs = MAX_QUERY_MS): VectorResult[] {
  return timed(budgetMs, () => vector(store, scope, expr, atMs));
}

function vector(store: LogStore, scope: Scope, expr: MetricExpr, atMs: number): VectorResult[] {
  return [...evalMetric(store, scope, expr, [atMs]).values()].map(({ labels, points }) => ({ metric: labels, value: [atMs / 1000, formatValue(points.get(atMs)!)] }));
}
