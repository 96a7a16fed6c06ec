import { Counter, type Registry } from 'prom-client';
import { LabelledCounter, LabelledHistogram } from '../ops/labelled-metrics.js';
import type { Route } from './route-table.js';

export type UpstreamErrorReason =
  | 'connect_error' | 'connect_timeout' | 'response_timeout' | 'reset' | 'response_aborted' | 'misconfigured' | 'unhealthy' | 'upgrade_failed';

/**
 * Per-route traffic of the gateway, on the core's registry (what the service-mesh extension
 * draws its traffic picture from). Labels are bounded: extensions and route kinds, never paths.
 */
export class GatewayMetrics {
  readonly requests: LabelledCounter<'extension' | 'route' | 'method' | 'code'>;
  readonly duration: LabelledHistogram<'extension' | 'route' | 'method'>;
  readonly upstreamErrors: Counter<'extension' | 'route' | 'reason'>;

  constructor(registry: Registry) {
    this.requests = new LabelledCounter('mortise_gateway_requests_total', 'Requests the gateway answered, by extension, route kind, method and status code',
      ['extension', 'route', 'method', 'code'], registry);
    this.duration = new LabelledHistogram('mortise_gateway_request_duration_seconds', 'Time from a proxied request arriving to its response ending, by extension and route kind',
      ['extension', 'route', 'method'], [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registry);
    this.upstreamErrors = new Counter({
      name: 'mortise_gateway_upstream_errors_total', help: 'Failures reaching or reading an extension backend, by extension, route kind and reason',
      labelNames: ['extension', 'route', 'reason'], registers: [registry],
    });
  }

  countError(route: Route, reason: UpstreamErrorReason): void {
    this.upstreamErrors.inc({ extension: route.extension, route: route.kind, reason });
  }

  /** Counts an answered request and its time from `started` (process.hrtime.bigint()). */
  observe(route: Route, method: string, code: number, started: bigint): void {
    this.requests.inc({ extension: route.extension, route: route.kind, method, code: String(code) });
    this.duration.observe({ extension: route.extension, route: route.kind, method }, Number(process.hrtime.bigint() - started) / 1e9);
  }
}
