import { setFlagsFromString } from 'node:v8';
import type { CircuitBreakerSpec, GrayReleaseSpec, MeshServiceSpec, MeshKind, StringMatch, TrafficRuleSpec } from './types.js';

// Checks a schema cannot state, answered to the core's admission request as causes naming each
// field: weights that do not add up to 100, a version the service does not have, a regular
// expression that does not compile. The data plane compiles rules with the same functions, so
// what passes here runs there.

export interface Cause { field: string; message: string; reason?: string }

/** The versions of a service in the namespace, or undefined when there is no such MeshService. */
export type VersionsOf = (service: string) => string[] | undefined;

// A rule's expression is matched against every request's header on the Node plane's one
// thread: a backtracking engine given (a+)+ and "aaa…a!" would stall the plane of every
// namespace for minutes. V8 bounds it when told to: an expression that backtracks too much
// is run again by its linear-time engine, which can run any expression without backreferences
// and lookarounds — the ones that compile with the `l` flag (RE2, which Istio uses, has neither).
setFlagsFromString('--enable-experimental-regexp-engine');
setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');

export function compileRegex(pattern: string): RegExp {
  // Anchored as Istio (RE2) matches a whole value.
  const source = `^(?:${pattern})$`;
  try {
    new RegExp(source, 'l');
  } catch (e) {
    const message = (e as Error).message;
    // An expression that does not compile at all says so as before; one that only needs backtracking says why it is refused.
    if (/linear time/.test(message)) throw new SyntaxError(`${message} (no backreferences or lookarounds: an expression must run in linear time, as in RE2)`);
  }
  return new RegExp(source);
}

function checkMatch(m: StringMatch | undefined, field: string, causes: Cause[]): void {
  if (!m || typeof m !== 'object') return;
  if ('regex' in m && typeof m.regex === 'string') {
    try {
      compileRegex(m.regex);
    } catch (e) {
      causes.push({ field: `${field}.regex`, message: `does not compile: ${(e as Error).message.replace(/^Invalid regular expression: /, '')}` });
    }
  }
}

function checkService(service: string, versionsOf: VersionsOf, causes: Cause[]): string[] | undefined {
  const versions = versionsOf(service);
  if (!versions) causes.push({ field: 'spec.service', message: `no MeshService "${service}" in this namespace`, reason: 'FieldValueNotFound' });
  return versions;
}

function checkVersion(version: string, known: string[] | undefined, field: string, service: string, causes: Cause[]): void {
  if (known && !known.includes(version)) causes.push({ field, message: `MeshService "${service}" has no version "${version}" (it has ${known.map((v) => `"${v}"`).join(', ')})`, reason: 'FieldValueNotFound' });
}

/** Weights of one route: each 0–100, adding up to exactly 100; one destination may leave its weight out (it takes the rest). */
export function effectiveWeights(destinations: Array<{ weight?: number }>): { weights: number[]; problem?: string } {
  const missing = destinations.filter((d) => d.weight === undefined).length;
  const given = destinations.reduce((s, d) => s + (d.weight ?? 0), 0);
  if (destinations.length === 1 && missing === 1) return { weights: [100] };
  if (missing > 1) return { weights: [], problem: `${missing} destinations have no weight; at most one may take the rest` };
  if (missing === 1) {
    if (given > 100) return { weights: [], problem: `weights add up to ${given}, more than 100` };
    return { weights: destinations.map((d) => d.weight ?? 100 - given) };
  }
  if (given !== 100) return { weights: [], problem: `weights add up to ${given}, not 100` };
  return { weights: destinations.map((d) => d.weight!) };
}

export function validateMeshService(spec: MeshServiceSpec): Cause[] {
  const causes: Cause[] = [];
  const seen = new Set<string>();
  (spec.versions ?? []).forEach((v, i) => {
    if (seen.has(v.name)) causes.push({ field: `spec.versions[${i}].name`, message: `duplicates version "${v.name}"`, reason: 'FieldValueDuplicate' });
    seen.add(v.name);
  });
  if (spec.defaultVersion !== undefined && !seen.has(spec.defaultVersion)) causes.push({ field: 'spec.defaultVersion', message: `is not one of the versions`, reason: 'FieldValueNotFound' });
  return causes;
}

export function validateTrafficRule(spec: TrafficRuleSpec, versionsOf: VersionsOf): Cause[] {
  const causes: Cause[] = [];
  const known = checkService(spec.service, versionsOf, causes);
  (spec.routes ?? []).forEach((route, i) => {
    const at = `spec.routes[${i}]`;
    const { problem } = effectiveWeights(route.destinations ?? []);
    if (problem) causes.push({ field: `${at}.destinations`, message: problem });
    (route.destinations ?? []).forEach((d, j) => checkVersion(d.version, known, `${at}.destinations[${j}].version`, spec.service, causes));
    if (route.mirror) checkVersion(route.mirror.version, known, `${at}.mirror.version`, spec.service, causes);
    (route.match ?? []).forEach((m, k) => {
      for (const [name, sm] of Object.entries(m.headers ?? {})) checkMatch(sm, `${at}.match[${k}].headers.${name}`, causes);
      for (const [name, sm] of Object.entries(m.cookies ?? {})) checkMatch(sm, `${at}.match[${k}].cookies.${name}`, causes);
    });
    if (route.retries?.perTryTimeoutMs && route.timeoutMs && route.retries.perTryTimeoutMs > route.timeoutMs) {
      causes.push({ field: `${at}.retries.perTryTimeoutMs`, message: `is longer than the route's timeoutMs (${route.timeoutMs})` });
    }
  });
  return causes;
}

export function validateCircuitBreaker(spec: CircuitBreakerSpec, versionsOf: VersionsOf): Cause[] {
  const causes: Cause[] = [];
  checkService(spec.service, versionsOf, causes);
  return causes;
}

export function validateGrayRelease(spec: GrayReleaseSpec, versionsOf: VersionsOf): Cause[] {
  const causes: Cause[] = [];
  const known = checkService(spec.service, versionsOf, causes);
  checkVersion(spec.stable, known, 'spec.stable', spec.service, causes);
  checkVersion(spec.canary, known, 'spec.canary', spec.service, causes);
  if (spec.stable === spec.canary) causes.push({ field: 'spec.canary', message: 'is the same version as spec.stable' });
  if (spec.header?.regex !== undefined) checkMatch({ regex: spec.header.regex }, 'spec.header', causes);
  if (spec.header && spec.header.exact === undefined && spec.header.regex === undefined) causes.push({ field: 'spec.header', message: 'needs exact or regex' });
  const steps = spec.steps ?? [];
  steps.forEach((w, i) => {
    if (i > 0 && w < steps[i - 1]!) causes.push({ field: `spec.steps[${i}]`, message: `${w} is lower than the step before (${steps[i - 1]}); steps rise` });
  });
  if (spec.step !== undefined && spec.strategy === 'canary' && steps.length > 0 && spec.step >= steps.length) causes.push({ field: 'spec.step', message: `there are only ${steps.length} steps (0–${steps.length - 1})` });
  if (spec.step !== undefined && spec.strategy === 'blueGreen' && spec.step > 1) causes.push({ field: 'spec.step', message: 'blue-green has two steps: 0 (the new version deployed, no traffic) and 1 (switched)' });
  return causes;
}

/** The causes for an object of one of the mesh's kinds. */
export function validateObject(kind: MeshKind, spec: unknown, versionsOf: VersionsOf): Cause[] {
  switch (kind) {
    case 'MeshService': return validateMeshService(spec as MeshServiceSpec);
    case 'TrafficRule': return validateTrafficRule(spec as TrafficRuleSpec, versionsOf);
    case 'CircuitBreaker': return validateCircuitBreaker(spec as CircuitBreakerSpec, versionsOf);
    case 'GrayRelease': return validateGrayRelease(spec as GrayReleaseSpec, versionsOf);
  }
}
