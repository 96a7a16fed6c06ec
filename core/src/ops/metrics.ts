import { Counter, Histogram, Registry, collectDefaultMetrics, Gauge } from 'prom-client';

/** Prometheus metrics of one core instance (its own registry: tests run several cores). */
export class CoreMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'method' | 'code'>;
  readonly latency: Histogram<'route' | 'method'>;
  readonly watches: Gauge;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'mortise_process_' });
    this.requests = new Counter({
      name: 'mortise_http_requests_total', help: 'HTTP requests by route, method and status code',
      labelNames: ['route', 'method', 'code'], registers: [this.registry],
    });
    this.latency = new Histogram({
      name: 'mortise_http_request_duration_seconds', help: 'HTTP request latency by route and method',
      labelNames: ['route', 'method'], registers: [this.registry],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    });
    this.watches = new Gauge({ name: 'mortise_open_watches', help: 'Open watch streams', registers: [this.registry] });
  }
}
