import { resolve } from 'node:path';
import { parseIdentityProviders, type IdentityProviderConfig } from './auth/identity-providers.js';

import type { EdgeOptions } from './edge/native-edge.js';

export interface CoreConfig {
  /**
   * The native edge (docs/edge.md): Debian's nginx in front of the core on its own port
   * (`MORTISE_EDGE_LISTEN`, a port or host:port), answering safe requests to extension routes
   * from the core's decisions. Unset: no edge.
   */
  edge?: EdgeOptions;
  /** Where the SQLite file lives; undefined keeps everything in memory (tests). */
  dataDir?: string;
  host: string;
  port: number;
  /** The OIDC issuer URL; defaults to this server's own URL. */
  issuer?: string;
  /** The bootstrap admin's password; generated and printed once when unset. */
  adminPassword?: string;
  logLevel?: string;
  accessTokenTtlSeconds?: number;
  refreshTokenTtlSeconds?: number;
  /** Watch history kept for replay (events); older resourceVersions answer 410 Gone. */
  eventRetention?: number;
  bookmarkIntervalMs?: number;
  /** How long shutdown waits for in-flight requests. */
  shutdownTimeoutMs?: number;
  /** External OpenID Connect providers users may log in through (`MORTISE_IDENTITY_PROVIDERS`, JSON). */
  identityProviders?: IdentityProviderConfig[];
  /** Audit log bounds: the newest `maxEvents` (default 100,000) no older than `maxAgeDays` (default 30). */
  auditRetention?: { maxEvents?: number; maxAgeDays?: number };
  /**
   * Size caps of the log files in `<data dir>/logs/` (`MORTISE_CORE_LOG_MAX_BYTES`, default 16 MiB;
   * `MORTISE_BACKEND_LOG_MAX_BYTES`, default 4 MiB per backend): the oldest lines rotate away beyond.
   */
  logFiles?: { coreMaxBytes?: number; backendMaxBytes?: number };
  /** Cached extension archives are evicted (least recently used, never what a plan needs) beyond this many bytes; default 1 GiB. */
  packageCacheMaxBytes?: number;
  /**
   * `embedded` (default: SQLite, child processes) or `kubernetes` (a cluster's API server is the
   * store): `MORTISE_MODE`. docs/kubernetes.md.
   */
  mode?: 'embedded' | 'kubernetes';
  /** kubernetes mode: the kubeconfig file (`MORTISE_KUBECONFIG`, else `KUBECONFIG`); in a pod, its service account. */
  kubeconfig?: string;
  /** kubernetes mode: the core's own namespace, where internal kinds live as Secrets (`MORTISE_NAMESPACE`, default mortise-system). */
  namespace?: string;
  /** kubernetes mode: how long a leader's Lease holds without renewal (`MORTISE_LEASE_DURATION_SECONDS`, default 15). */
  leaseDurationSeconds?: number;
  /**
   * Where extension backends run (`MORTISE_RUNTIME`): `process` (child processes of the core) or
   * `kubernetes` (a Deployment + Service per backend; kubernetes mode only). Default: the mode's
   * own — processes in embedded mode, Deployments in kubernetes mode.
   */
  backendRuntime?: 'process' | 'kubernetes';
  /** kubernetes runtime: the image that runs a process backend's package (`MORTISE_RUNNER_IMAGE`, default mortise/node-runner:<version>). */
  runnerImage?: string;
  /** kubernetes runtime: the core's URL as backends in the cluster reach it (`MORTISE_CORE_SERVICE_URL`, default http://mortise-core.<namespace>.svc:80). */
  coreServiceUrl?: string;
  /** kubernetes mode: this replica's name in the Lease (`POD_NAME`; default host, pid and a random suffix). */
  replicaIdentity?: string;
  /**
   * kubernetes mode: who the cluster sees on `/clusters/host` (`MORTISE_HOST_CLUSTER_IDENTITY`):
   * `impersonate` (default: the Mortise user, through Impersonate-User / Impersonate-Group, so
   * the cluster's own RBAC applies too) or `core` (the core's own identity).
   */
  hostClusterIdentity?: 'impersonate' | 'core';
  /**
   * kubernetes mode: put before impersonated user and group names (`MORTISE_HOST_CLUSTER_PREFIX`,
   * default `mortise:`), so no Mortise name can be a cluster's own (`system:masters`).
   */
  hostClusterPrefix?: string;
}

/** The configuration `npm start` uses, from the environment (DESIGN: quick-start contract). */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): CoreConfig {
  return {
    dataDir: resolve(env.MORTISE_DATA_DIR ?? '.mortise'),
    host: env.HOST ?? '127.0.0.1',
    port: env.PORT ? Number(env.PORT) : 8080,
    issuer: env.MORTISE_ISSUER,
    adminPassword: env.MORTISE_ADMIN_PASSWORD,
    logLevel: env.MORTISE_LOG_LEVEL,
    identityProviders: env.MORTISE_IDENTITY_PROVIDERS ? parseIdentityProviders(env.MORTISE_IDENTITY_PROVIDERS) : undefined,
    packageCacheMaxBytes: numberOrUndefined(env.MORTISE_PACKAGE_CACHE_MAX_BYTES),
    auditRetention: { maxEvents: numberOrUndefined(env.MORTISE_AUDIT_MAX_EVENTS), maxAgeDays: numberOrUndefined(env.MORTISE_AUDIT_MAX_AGE_DAYS) },
    logFiles: { coreMaxBytes: numberOrUndefined(env.MORTISE_CORE_LOG_MAX_BYTES), backendMaxBytes: numberOrUndefined(env.MORTISE_BACKEND_LOG_MAX_BYTES) },
    mode: modeOf(env.MORTISE_MODE),
    ...(env.MORTISE_EDGE_LISTEN ? { edge: { listen: env.MORTISE_EDGE_LISTEN, ...(env.MORTISE_EDGE_WORKERS ? { workers: edgeWorkersOf(env.MORTISE_EDGE_WORKERS) } : {}), ...(onOff('MORTISE_EDGE_BACKEND_SOCKETS', env.MORTISE_EDGE_BACKEND_SOCKETS) ? { backendSockets: true } : {}) } } : {}),
    kubeconfig: env.MORTISE_KUBECONFIG ?? env.KUBECONFIG,
    namespace: env.MORTISE_NAMESPACE,
    leaseDurationSeconds: numberOrUndefined(env.MORTISE_LEASE_DURATION_SECONDS),
    replicaIdentity: env.POD_NAME,
    backendRuntime: runtimeOf(env.MORTISE_RUNTIME),
    runnerImage: env.MORTISE_RUNNER_IMAGE || undefined,
    coreServiceUrl: env.MORTISE_CORE_SERVICE_URL || undefined,
    hostClusterIdentity: hostClusterIdentityOf(env.MORTISE_HOST_CLUSTER_IDENTITY),
    hostClusterPrefix: env.MORTISE_HOST_CLUSTER_PREFIX,
  };
}

const numberOrUndefined = (v: string | undefined) => (v && Number.isFinite(Number(v)) ? Number(v) : undefined);

function modeOf(v: string | undefined): CoreConfig['mode'] {
  if (v === undefined || v === '' || v === 'embedded') return 'embedded';
  if (v === 'kubernetes') return 'kubernetes';
  throw new Error(`MORTISE_MODE must be "embedded" or "kubernetes", not ${JSON.stringify(v)}`);
}

/** An on/off setting: `on` or `off` (the default when unset or empty). */
function onOff(name: string, v: string | undefined): boolean {
  if (v === undefined || v.trim() === '' || v.trim() === 'off') return false;
  if (v.trim() === 'on') return true;
  throw new Error(`${name} must be "on" or "off", not ${JSON.stringify(v)}`);
}

/** `MORTISE_EDGE_WORKERS`: a number of nginx workers, or `auto` (the default: one per core but one, at least one). */
function edgeWorkersOf(v: string): number | undefined {
  if (v.trim() === 'auto') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error(`MORTISE_EDGE_WORKERS must be "auto" or a number of nginx workers from 1 to 64, not ${JSON.stringify(v)}`);
  return n;
}

function hostClusterIdentityOf(v: string | undefined): CoreConfig['hostClusterIdentity'] {
  if (v === undefined || v === '' || v === 'impersonate') return 'impersonate';
  if (v === 'core') return 'core';
  throw new Error(`MORTISE_HOST_CLUSTER_IDENTITY must be "impersonate" or "core", not ${JSON.stringify(v)}`);
}

function runtimeOf(v: string | undefined): CoreConfig['backendRuntime'] {
  if (v === undefined || v === '') return undefined;
  if (v === 'process' || v === 'kubernetes') return v;
  throw new Error(`MORTISE_RUNTIME must be "process" or "kubernetes", not ${JSON.stringify(v)}`);
}
