import type { Metric, Registry } from 'prom-client';

// A counter and a histogram for the per-request path. prom-client validates the label names and
// hashes a sorted copy of the labels on every inc/observe (several µs a request, four times for a
// proxied one); these find a series by its label values joined, and keep plain numbers. They
// register on the same registry and give the same output (text, JSON for merging workers' metrics).

/** What prom-client's registry reads from a metric (`get()`), for text output and for merging. */
export interface MetricSnapshot {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  values: Array<{ labels: Record<string, string | number>; value: number; metricName?: string }>;
}

interface Series<L extends string> {
  labels: Record<L, string>;
}

type Tree<S> = Map<string, Tree<S> | S>;

abstract class LabelledMetric<L extends string, S extends Series<L>> {
  readonly aggregator = 'sum' as const;
  /** Label value by label value (the strings callers pass again and again hash once): no key to build. */
  private tree: Tree<S> = new Map();
  protected readonly series: S[] = [];

  constructor(readonly name: string, readonly help: string, private readonly labelNames: readonly L[], registry: Registry) {
    if (!labelNames.length) throw new Error(`${name}: a labelled metric needs at least one label`);
    registry.registerMetric(this as unknown as Metric);
  }

  protected seriesOf(labels: Record<L, string>): S {
    const names = this.labelNames;
    let node = this.tree;
    for (let i = 0; i < names.length - 1; i++) {
      const value = labels[names[i]!];
      let next = node.get(value) as Tree<S> | undefined;
      if (!next) node.set(value, (next = new Map()));
      node = next;
    }
    const last = labels[names[names.length - 1]!];
    let s = node.get(last) as S | undefined;
    if (!s) {
      const own = {} as Record<L, string>;
      for (const n of names) own[n] = String(labels[n] ?? '');
      s = this.create(own);
      node.set(last, s);
      this.series.push(s);
    }
    return s;
  }

  protected abstract create(labels: Record<L, string>): S;

  reset(): void {
    this.tree = new Map();
    this.series.length = 0;
  }
}

interface CounterSeries<L extends string> extends Series<L> {
  value: number;
}

export class LabelledCounter<L extends string> extends LabelledMetric<L, CounterSeries<L>> {
  readonly type = 'counter' as const;

  inc(labels: Record<L, string>, value = 1): void {
    this.seriesOf(labels).value += value;
  }

  protected create(labels: Record<L, string>): CounterSeries<L> {
    return { labels, value: 0 };
  }

  async get(): Promise<MetricSnapshot> {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.series.map((s) => ({ labels: { ...s.labels }, value: s.value })) };
  }
}

interface HistogramSeries<L extends string> extends Series<L> {
  /** Observations per bucket (not cumulative); the last one is above every bound. */
  counts: number[];
  sum: number;
  count: number;
}

export class LabelledHistogram<L extends string> extends LabelledMetric<L, HistogramSeries<L>> {
  readonly type = 'histogram' as const;

  constructor(name: string, help: string, labelNames: readonly L[], private readonly buckets: readonly number[], registry: Registry) {
    super(name, help, labelNames, registry);
  }

  observe(labels: Record<L, string>, value: number): void {
    const s = this.seriesOf(labels);
    let i = 0;
    while (i < this.buckets.length && value > this.buckets[i]!) i++;
    s.counts[i]!++;
    s.sum += value;
    s.count++;
  }

  protected create(labels: Record<L, string>): HistogramSeries<L> {
    return { labels, counts: new Array<number>(this.buckets.length + 1).fill(0), sum: 0, count: 0 };
  }

  async get(): Promise<MetricSnapshot> {
    const values: MetricSnapshot['values'] = [];
    const bucketName = `${this.name}_bucket`;
    for (const s of this.series) {
      let cumulative = 0;
      this.buckets.forEach((le, i) => {
        cumulative += s.counts[i]!;
        values.push({ metricName: bucketName, labels: { le, ...s.labels }, value: cumulative });
      });
      values.push({ metricName: bucketName, labels: { le: '+Inf', ...s.labels }, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels: { ...s.labels }, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: { ...s.labels }, value: s.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}
