import { effectiveWeights } from './validate.js';
import type { CircuitBreaker, GrayRelease, HttpRoute, MeshService, RouteMatch, StringMatch, TrafficRule } from './types.js';

// On a cluster, the same objects become Istio's: a DestinationRule per MeshService (a subset per
// version; the CircuitBreaker as its trafficPolicy) and a VirtualService per MeshService (its
// TrafficRules' routes in order, a GrayRelease deciding the destinations as the embedded data
// plane does). Pure functions of the objects; docs/servicemesh.md has the mapping table.

export const istioApiVersion = 'networking.istio.io/v1beta1';

type Json = Record<string, unknown>;
export interface IstioObject { apiVersion: string; kind: 'VirtualService' | 'DestinationRule'; metadata: { name: string; namespace: string; labels: Record<string, string> }; spec: Json }

/** Milliseconds as an Istio duration ("1.5s"). */
export const duration = (ms: number) => `${+(ms / 1000).toFixed(3)}s`;

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function stringMatch(m: StringMatch): Json {
  if ('exact' in m) return { exact: m.exact };
  if ('prefix' in m) return { prefix: m.prefix };
  return { regex: m.regex };
}

/** A cookie condition as Istio expresses it: a regex on the Cookie header. */
function cookieMatch(name: string, m: StringMatch): string {
  const value = 'exact' in m ? escapeRegex(m.exact) : 'prefix' in m ? `${escapeRegex(m.prefix)}[^;]*` : `(?:${m.regex})`;
  return `^(.*?;\\s*)?${escapeRegex(name)}=${value}(;.*)?$`;
}

function matchOf(m: RouteMatch): Json {
  const headers: Json = {};
  for (const [k, sm] of Object.entries(m.headers ?? {})) headers[k.toLowerCase()] = stringMatch(sm);
  const cookies = Object.entries(m.cookies ?? {});
  // Istio ANDs conditions within a match but has one value per header: several cookies join in one regex by lookaheads.
  if (cookies.length === 1) headers.cookie = { regex: cookieMatch(cookies[0]![0], cookies[0]![1]) };
  else if (cookies.length > 1) headers.cookie = { regex: cookies.map(([n, sm]) => `(?=${cookieMatch(n, sm).slice(1, -1)}$)`).join('') + '.*' };
  return { ...(Object.keys(headers).length ? { headers } : {}), ...(m.pathPrefix ? { uri: { prefix: m.pathPrefix } } : {}) };
}

const destination = (host: string, subset: string, weight?: number): Json => ({ destination: { host, subset }, ...(weight !== undefined ? { weight } : {}) });

function routeOf(host: string, r: HttpRoute, index: number): Json {
  const { weights } = effectiveWeights(r.destinations);
  const out: Json = {
    name: r.name ?? `route-${index}`,
    ...(r.match?.length ? { match: r.match.map(matchOf) } : {}),
    route: r.destinations.map((d, i) => destination(host, d.version, r.destinations.length > 1 ? weights[i] : undefined)),
  };
  if (r.timeoutMs) out.timeout = duration(r.timeoutMs);
  if (r.retries) out.retries = { attempts: r.retries.attempts, ...(r.retries.perTryTimeoutMs ? { perTryTimeout: duration(r.retries.perTryTimeoutMs) } : {}), retryOn: (r.retries.retryOn ?? ['5xx', 'connect-failure', 'reset']).join(',') };
  if (r.fault) {
    out.fault = {
      ...(r.fault.delay ? { delay: { percentage: { value: r.fault.delay.percent }, fixedDelay: duration(r.fault.delay.fixedDelayMs) } } : {}),
      ...(r.fault.abort ? { abort: { percentage: { value: r.fault.abort.percent }, httpStatus: r.fault.abort.httpStatus } } : {}),
    };
  }
  if (r.mirror) {
    out.mirror = { host, subset: r.mirror.version };
    out.mirrorPercentage = { value: r.mirror.percent ?? 100 };
  }
  return out;
}

/** The GrayRelease's say over where a route's traffic goes (the data plane's chooseVersion). */
function applyGray(host: string, route: Json, gr: GrayRelease): Json[] {
  const { stable, canary, strategy, header } = gr.spec;
  const phase = gr.status?.phase ?? 'Progressing';
  const weight = gr.status?.canaryWeight ?? 0;
  const only = (v: string) => [{ ...route, route: [destination(host, v)] }];
  if (phase === 'Promoted') return only(canary);
  if (phase === 'RolledBack') return only(stable);
  if (strategy === 'mirror') return [{ ...route, route: [destination(host, stable)], mirror: { host, subset: canary }, mirrorPercentage: { value: 100 } }];
  if (strategy === 'blueGreen') return only(weight >= 100 ? canary : stable);
  const out: Json[] = [];
  if (header) {
    const m = { [header.name.toLowerCase()]: header.regex !== undefined ? { regex: header.regex } : { exact: header.exact ?? '' } };
    const matches = ((route.match as Json[] | undefined) ?? [{}]).map((x) => ({ ...x, headers: { ...((x.headers as Json | undefined) ?? {}), ...m } }));
    out.push({ ...route, name: `${String(route.name)}-${gr.metadata.name}-header`, match: matches, route: [destination(host, canary)] });
  }
  out.push({ ...route, route: weight <= 0 ? [destination(host, stable)] : weight >= 100 ? [destination(host, canary)] : [destination(host, stable, 100 - weight), destination(host, canary, weight)] });
  return out;
}

const metaOf = (svc: MeshService) => ({ name: svc.metadata.name, namespace: svc.metadata.namespace, labels: { 'app.kubernetes.io/managed-by': 'mortise-servicemesh' } });

/** A MeshService (and its CircuitBreaker) as a DestinationRule. */
export function toDestinationRule(svc: MeshService, breaker?: CircuitBreaker): IstioObject {
  const spec: Json = {
    host: svc.metadata.name,
    subsets: svc.spec.versions.map((v) => ({ name: v.name, labels: v.labels && Object.keys(v.labels).length ? v.labels : { version: v.name } })),
  };
  const b = breaker?.spec;
  if (b && (b.connectionPool || b.outlierDetection)) {
    const policy: Json = {};
    if (b.connectionPool) {
      const cp = b.connectionPool;
      policy.connectionPool = {
        ...(cp.maxConnections !== undefined ? { tcp: { maxConnections: cp.maxConnections } } : {}),
        ...(cp.maxRequests !== undefined || cp.maxPendingRequests !== undefined ? { http: { ...(cp.maxPendingRequests !== undefined ? { http1MaxPendingRequests: cp.maxPendingRequests } : {}), ...(cp.maxRequests !== undefined ? { http2MaxRequests: cp.maxRequests } : {}) } } : {}),
      };
    }
    if (b.outlierDetection) {
      const od = b.outlierDetection;
      policy.outlierDetection = { consecutive5xxErrors: od.consecutive5xxErrors ?? 5, interval: '1s', baseEjectionTime: duration(od.baseEjectionTimeMs ?? 30_000), maxEjectionPercent: od.maxEjectionPercent ?? 100 };
    }
    spec.trafficPolicy = policy;
  }
  return { apiVersion: istioApiVersion, kind: 'DestinationRule', metadata: metaOf(svc), spec };
}

/** A MeshService's TrafficRules (by name) and GrayRelease as its VirtualService. */
export function toVirtualService(svc: MeshService, rules: TrafficRule[], gray?: GrayRelease): IstioObject {
  const host = svc.metadata.name;
  let http: Json[] = [...rules].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name)).flatMap((r) => r.spec.routes.map((route, i) => routeOf(host, route, i)));
  // No route for every request: the default version takes the rest, as in the data plane.
  if (!http.some((r) => !r.match)) http.push({ name: 'default', route: [destination(host, svc.spec.defaultVersion ?? svc.spec.versions[0]!.name)] });
  if (gray) http = http.flatMap((r) => applyGray(host, r, gray));
  return { apiVersion: istioApiVersion, kind: 'VirtualService', metadata: metaOf(svc), spec: { hosts: [host], http } };
}

/** Every Istio object for a namespace's mesh objects: a VirtualService and a DestinationRule per MeshService. */
export function toIstio(objects: { services: MeshService[]; rules: TrafficRule[]; breakers: CircuitBreaker[]; releases: GrayRelease[] }): IstioObject[] {
  const about = <T extends { metadata: { namespace: string }; spec: { service: string } }>(xs: T[], svc: MeshService) => xs.filter((x) => x.metadata.namespace === svc.metadata.namespace && x.spec.service === svc.metadata.name);
  return objects.services.flatMap((svc) => [
    toVirtualService(svc, about(objects.rules, svc), about(objects.releases, svc).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))[0]),
    toDestinationRule(svc, about(objects.breakers, svc)[0]),
  ]);
}
