import { serviceTag } from './tracing.js';
import { compileRegex, effectiveWeights } from './validate.js';
import type { CircuitBreakerSpec, FaultPolicy, GrayReleaseSpec, GrayReleaseStatus, HttpRoute, MeshServiceSpec, RetryPolicy, RouteMatch, StringMatch, TrafficRuleSpec } from './types.js';

// The data plane's view of one service: its rules compiled into plain functions and arrays.
// A compiled routing is immutable; a rule change builds a new one and swaps the reference, so a
// request in flight finishes with the routing it started with and none is dropped.

export type Matcher = (value: string | undefined) => boolean;

/** Each matcher with the match it was compiled from (the nginx data plane writes that). */
export interface CompiledMatch { headers: Array<[string, Matcher, StringMatch]>; cookies: Array<[string, Matcher, StringMatch]>; pathPrefix?: string }

export interface CompiledRoute {
  name: string;
  /** Empty = every request. */
  match: CompiledMatch[];
  versions: string[];
  /** Cumulative weights, ending at 100. */
  cumulative: number[];
  timeoutMs?: number;
  retries?: RetryPolicy;
  fault?: FaultPolicy;
  mirror?: { version: string; percent: number };
}

export interface CompiledGray {
  name: string;
  stable: string;
  canary: string;
  strategy: GrayReleaseSpec['strategy'];
  phase: NonNullable<GrayReleaseStatus['phase']>;
  canaryWeight: number;
  header?: [string, Matcher, StringMatch];
}

export interface ServiceRouting {
  namespace: string;
  service: string;
  versions: Map<string, string[]>;
  defaultVersion: string;
  routes: CompiledRoute[];
  breaker?: CircuitBreakerSpec;
  gray?: CompiledGray;
  /** Bumped on every recompile (shown in the service's detail). */
  generation: number;
  /** The tag its spans' ids carry (see tracing.ts). */
  tag: string;
  /** Whether a route or the release looks at headers, cookies or the path (else no request view is needed). */
  inspectsRequest: boolean;
}

export function compileStringMatch(m: StringMatch): Matcher {
  if ('exact' in m) return (v) => v === m.exact;
  if ('prefix' in m) return (v) => v !== undefined && v.startsWith(m.prefix);
  const re = compileRegex(m.regex);
  return (v) => v !== undefined && re.test(v);
}

function compileMatch(m: RouteMatch): CompiledMatch {
  return {
    headers: Object.entries(m.headers ?? {}).map(([k, sm]) => [k.toLowerCase(), compileStringMatch(sm), sm]),
    cookies: Object.entries(m.cookies ?? {}).map(([k, sm]) => [k, compileStringMatch(sm), sm]),
    ...(m.pathPrefix ? { pathPrefix: m.pathPrefix } : {}),
  };
}

/** Throws on a rule that cannot run (the caller keeps the last good routing). */
export function compileRoute(route: HttpRoute, index: number, versions: Map<string, string[]>): CompiledRoute {
  const { weights, problem } = effectiveWeights(route.destinations);
  if (problem) throw new Error(`routes[${index}]: ${problem}`);
  for (const d of route.destinations) if (!versions.has(d.version)) throw new Error(`routes[${index}]: no version "${d.version}"`);
  if (route.mirror && !versions.has(route.mirror.version)) throw new Error(`routes[${index}]: no mirror version "${route.mirror.version}"`);
  let sum = 0;
  return {
    name: route.name ?? `route-${index}`,
    match: (route.match ?? []).map(compileMatch),
    versions: route.destinations.map((d) => d.version),
    cumulative: weights.map((w) => (sum += w)),
    ...(route.timeoutMs ? { timeoutMs: route.timeoutMs } : {}),
    ...(route.retries ? { retries: route.retries } : {}),
    ...(route.fault ? { fault: route.fault } : {}),
    ...(route.mirror ? { mirror: { version: route.mirror.version, percent: route.mirror.percent ?? 100 } } : {}),
  };
}

export function compileGray(name: string, spec: GrayReleaseSpec, status: GrayReleaseStatus | undefined, versions: Map<string, string[]>): CompiledGray {
  if (!versions.has(spec.stable) || !versions.has(spec.canary)) throw new Error(`GrayRelease ${name}: unknown version`);
  const phase = status?.phase ?? 'Progressing';
  return {
    name, stable: spec.stable, canary: spec.canary, strategy: spec.strategy, phase,
    canaryWeight: status?.canaryWeight ?? initialWeight(spec),
    ...(spec.header ? { header: grayHeader(spec.header) } : {}),
  };
}

function grayHeader(h: NonNullable<GrayReleaseSpec['header']>): [string, Matcher, StringMatch] {
  const m: StringMatch = h.regex !== undefined ? { regex: h.regex } : { exact: h.exact ?? '' };
  return [h.name.toLowerCase(), compileStringMatch(m), m];
}

/** The new version's weight a release starts with, before its controller has written a status. */
export function initialWeight(spec: GrayReleaseSpec): number {
  if (spec.strategy === 'canary') return spec.steps?.[Math.min(spec.step ?? 0, (spec.steps?.length ?? 1) - 1)] ?? 0;
  if (spec.strategy === 'blueGreen') return (spec.step ?? 0) >= 1 ? 100 : 0;
  return 0;
}

export interface RoutingInputs {
  namespace: string;
  service: string;
  spec: MeshServiceSpec;
  rules: Array<{ name: string; spec: TrafficRuleSpec }>;
  breaker?: CircuitBreakerSpec;
  gray?: { name: string; spec: GrayReleaseSpec; status?: GrayReleaseStatus };
  generation: number;
}

/** Compiles every rule of a service; throws naming the first that cannot run. */
export function compileRouting(inp: RoutingInputs): ServiceRouting {
  const versions = new Map(inp.spec.versions.map((v) => [v.name, v.endpoints.map((e) => e.replace(/\/+$/, ''))]));
  const routes: CompiledRoute[] = [];
  for (const rule of [...inp.rules].sort((a, b) => a.name.localeCompare(b.name))) {
    rule.spec.routes.forEach((r, i) => {
      try {
        routes.push(compileRoute(r, i, versions));
      } catch (e) {
        throw new Error(`TrafficRule ${rule.name}: ${(e as Error).message}`);
      }
    });
  }
  const gray = inp.gray ? compileGray(inp.gray.name, inp.gray.spec, inp.gray.status, versions) : undefined;
  return {
    namespace: inp.namespace, service: inp.service, versions,
    defaultVersion: inp.spec.defaultVersion ?? inp.spec.versions[0]!.name,
    routes,
    ...(inp.breaker ? { breaker: inp.breaker } : {}),
    ...(gray ? { gray } : {}),
    generation: inp.generation,
    tag: serviceTag(inp.service, inp.namespace),
    inspectsRequest: routes.some((r) => r.match.length > 0) || gray?.header !== undefined,
  };
}

export interface RequestView { path: string; header(name: string): string | undefined; cookie(name: string): string | undefined }

function matches(m: CompiledMatch, req: RequestView): boolean {
  if (m.pathPrefix && !req.path.startsWith(m.pathPrefix)) return false;
  for (const [name, f] of m.headers) if (!f(req.header(name))) return false;
  for (const [name, f] of m.cookies) if (!f(req.cookie(name))) return false;
  return true;
}

/** The first route whose match holds (a route without match takes every request). */
export function selectRoute(routing: ServiceRouting, req: RequestView): CompiledRoute | undefined {
  for (const r of routing.routes) if (r.match.length === 0 || r.match.some((m) => matches(m, req))) return r;
  return undefined;
}

/**
 * The version a request goes to, and the version it is mirrored to. A GrayRelease in force
 * decides between its two versions (its header first, then its weight); otherwise the route's
 * weights; otherwise the default version. `roll` is a uniform number in [0, 100).
 */
export function chooseVersion(routing: ServiceRouting, route: CompiledRoute | undefined, req: RequestView, roll: number): { version: string; mirror?: string } {
  const g = routing.gray;
  if (g) {
    if (g.phase === 'Promoted') return { version: g.canary };
    if (g.phase === 'RolledBack') return { version: g.stable };
    if (g.strategy === 'mirror') return { version: g.stable, mirror: g.canary };
    if (g.header && g.header[1](req.header(g.header[0]))) return { version: g.canary };
    return { version: roll < g.canaryWeight ? g.canary : g.stable };
  }
  if (!route) return { version: routing.defaultVersion };
  let version = route.versions[route.versions.length - 1]!;
  for (let i = 0; i < route.cumulative.length; i++) {
    if (roll < route.cumulative[i]!) {
      version = route.versions[i]!;
      break;
    }
  }
  const mirror = route.mirror && Math.random() * 100 < route.mirror.percent ? route.mirror.version : undefined;
  return { version, ...(mirror ? { mirror } : {}) };
}
