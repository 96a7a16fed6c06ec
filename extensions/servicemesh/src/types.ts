// The specs of the mesh's kinds (servicemesh.mortise.io/v1alpha1), as crds/servicemesh.yaml states them.

export const meshGroup = 'servicemesh.mortise.io';
export const meshVersion = 'v1alpha1';

export interface ObjectMeta { name: string; namespace: string; resourceVersion?: string; generation?: number; creationTimestamp?: string }
export interface MeshObject<S, T = Record<string, unknown>> { apiVersion?: string; kind?: string; metadata: ObjectMeta; spec: S; status?: T }

export interface MeshServiceSpec {
  defaultVersion?: string;
  versions: Array<{ name: string; labels?: Record<string, string>; endpoints: string[] }>;
}

export type StringMatch = { exact: string } | { prefix: string } | { regex: string };

export interface RouteMatch {
  headers?: Record<string, StringMatch>;
  cookies?: Record<string, StringMatch>;
  pathPrefix?: string;
}

export interface RetryPolicy {
  attempts: number;
  perTryTimeoutMs?: number;
  retryOn?: Array<'5xx' | 'gateway-error' | 'connect-failure' | 'reset' | 'retriable-4xx'>;
}

export interface FaultPolicy {
  delay?: { percent: number; fixedDelayMs: number };
  abort?: { percent: number; httpStatus: number };
}

export interface HttpRoute {
  name?: string;
  match?: RouteMatch[];
  destinations: Array<{ version: string; weight?: number }>;
  timeoutMs?: number;
  retries?: RetryPolicy;
  fault?: FaultPolicy;
  mirror?: { version: string; percent?: number };
}

export interface TrafficRuleSpec { service: string; routes: HttpRoute[] }

export interface CircuitBreakerSpec {
  service: string;
  connectionPool?: { maxConnections?: number; maxRequests?: number; maxPendingRequests?: number };
  outlierDetection?: { consecutive5xxErrors?: number; baseEjectionTimeMs?: number; maxEjectionPercent?: number };
}

export interface GrayReleaseSpec {
  service: string;
  stable: string;
  canary: string;
  strategy: 'canary' | 'blueGreen' | 'mirror';
  header?: { name: string; exact?: string; regex?: string };
  steps?: number[];
  step?: number;
  action?: '' | 'promote' | 'rollback';
  analysis?: { maxErrorRate?: number; maxP99Ms?: number; windowSeconds?: number; minRequests?: number };
}

export type GrayPhase = 'Progressing' | 'Promoted' | 'RolledBack';

export interface GrayReleaseStatus {
  phase?: GrayPhase;
  /** The new version's share of traffic now (canary), 0 or 100 (blue-green). */
  canaryWeight?: number;
  step?: number;
  message?: string;
  /** Why it was rolled back automatically (the measured value and the threshold). */
  reason?: string;
  observedGeneration?: number;
  lastTransitionTime?: string;
}

export type MeshService = MeshObject<MeshServiceSpec>;
export type TrafficRule = MeshObject<TrafficRuleSpec>;
export type CircuitBreaker = MeshObject<CircuitBreakerSpec>;
export type GrayRelease = MeshObject<GrayReleaseSpec, GrayReleaseStatus>;

/** The plurals of the kinds, by kind. */
export const plurals = { MeshService: 'meshservices', TrafficRule: 'trafficrules', CircuitBreaker: 'circuitbreakers', GrayRelease: 'grayreleases' } as const;
export type MeshKind = keyof typeof plurals;
