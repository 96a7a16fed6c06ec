import { AggregatorRegistry, Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { LabelledCounter, LabelledHistogram } from '../src/ops/labelled-metrics.js';

// The per-request metrics must read exactly as prom-client's own would: the same text on
// /metrics, and the same merge of several workers' registries.

const buckets = [0.001, 0.01, 0.1, 1];

function fill(counter: { inc(l: Record<string, string>, v?: number): void }, histogram: { observe(l: Record<string, string>, v: number): void }): void {
  counter.inc({ route: 'gateway/reverseproxy/demo', method: 'GET', code: '200' });
  counter.inc({ route: 'gateway/reverseproxy/demo', method: 'GET', code: '200' }, 2);
  counter.inc({ route: 'api "x"\n', method: 'POST', code: '503' });
  for (const v of [0.0005, 0.001, 0.05, 0.5, 3]) histogram.observe({ route: 'gateway/reverseproxy/demo', method: 'GET' }, v);
  histogram.observe({ route: 'other', method: 'PUT' }, 0.02);
}

function ours(): Registry {
  const registry = new Registry();
  fill(new LabelledCounter('t_requests_total', 'requests', ['route', 'method', 'code'], registry),
    new LabelledHistogram('t_duration_seconds', 'duration', ['route', 'method'], buckets, registry));
  return registry;
}

function promClients(): Registry {
  const registry = new Registry();
  fill(new Counter({ name: 't_requests_total', help: 'requests', labelNames: ['route', 'method', 'code'], registers: [registry] }),
    new Histogram({ name: 't_duration_seconds', help: 'duration', labelNames: ['route', 'method'], buckets, registers: [registry] }));
  return registry;
}

describe('labelled metrics', () => {
  it('read on /metrics exactly as prom-client counters and histograms with the same observations', async () => {
    expect(await ours().metrics()).toBe(await promClients().metrics());
  });

  it('merge across workers exactly as prom-client metrics do', async () => {
    const merged = async (make: () => Registry) => AggregatorRegistry.aggregate([await make().getMetricsAsJSON(), await make().getMetricsAsJSON()]).metrics();
    const text = await merged(ours);
    expect(text).toBe(await merged(promClients));
    expect(text).toContain('t_requests_total{route="gateway/reverseproxy/demo",method="GET",code="200"} 6');
  });

  it('start again from nothing when the registry is reset', async () => {
    const registry = ours();
    registry.resetMetrics();
    expect(await registry.metrics()).not.toMatch(/^t_/m);
  });
});
