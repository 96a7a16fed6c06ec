import { Registry, collectDefaultMetrics, Gauge } from 'prom-client';
import { LabelledCounter, LabelledHistogram } from './labelled-metrics.js';

/** The bounds of the request latency histograms, seconds (the native edge's too). */
export const latencyBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Prometheus metrics of one core instance (its own registry: tests run several cores). */
export class CoreMetrics {
  readonly registry = new Registry();
  readonly requests: LabelledCounter<'route' | 'method' | 'code'>;
  readonly latency: LabelledHistogram<'route' | 'method'>;
  readonly watches: Gauge;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'mortise_process_' });
    this.requests = new LabelledCounter('mortise_http_requests_total', 'HTTP requests by route, method and status code', ['route', 'method', 'code'], this.registry);
    this.latency = new LabelledHistogram('mortise_http_request_duration_seconds', 'HTTP request latency by route and method', ['route', 'method'],
      latencyBuckets, this.registry);
    this.watches = new Gauge({ name: 'mortise_open_watches', help: 'Open watch streams', registers: [this.registry] });
  }
}
