import { createHash } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import type { LogRead, LogReadQuery } from '../ops/durable-log.js';

// The boundary between the installer and where extension backends run: child processes in the
// embedded mode (ProcessRuntime), Deployments + Services in the kubernetes mode.

/** Which backend: an extension's version (an upgrade runs two side by side). */
export interface BackendRef {
  extension: string;
  version: string;
}

/**
 * The runtime's key of a backend (`BackendSpec.id`, the argument of `status`, `stop`, `logs`):
 * made here only and never parsed — a status carries its extension and version.
 */
export function backendKey(ref: BackendRef): string {
  return `${ref.extension}@${ref.version}`;
}

/**
 * A DNS-1035 label for a backend (a Deployment's and Service's name): `<extension>-v<x-y-z>`.
 * Where that mapping could make two refs alike (a prerelease's `-`, characters a label cannot
 * hold) or is over 63 characters, a hash of the exact ref ends it.
 */
export function backendDnsName(ref: BackendRef): string {
  const clean = (s: string) => s.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '');
  const plain = `${clean(ref.extension)}-v${clean(ref.version)}`;
  const exact = /^[a-z]([a-z0-9-]*[a-z0-9])?$/.test(ref.extension) && /^[0-9a-z.]+$/.test(ref.version);
  if (exact && plain.length <= 63) return plain;
  const hash = createHash('sha256').update(backendKey(ref)).digest('hex').slice(0, 10);
  return `${plain.slice(0, 63 - hash.length - 1).replace(/-+$/, '')}-${hash}`.replace(/^[^a-z]+/, 'b');
}

/** The package a process backend runs, named, not located: each runtime gets it its own way. */
export interface BackendPackage {
  /** sha256 (hex) of the package archive: what is run is checked against it. */
  digest: string;
  /** The entry file, relative to the package's root (the manifest's `backend.entry`). */
  entry: string;
  /**
   * Where the archive is served by the core (GET with the backend's own token): a runtime away
   * from the core's disk (a pod) downloads it from here.
   */
  url: string;
}

export interface BackendSpec {
  /** `backendKey({extension, version})`. */
  id: string;
  extension: string;
  version: string;
  /** A process backend's package (the manifest's `backend.entry`); absent for a container image. */
  package?: BackendPackage;
  /** The container image (the manifest's `backend.image`), for runtimes that run containers. */
  image?: string;
  /** Health path answered 2xx when ready, e.g. `/healthz`. */
  healthPath: string;
  /** Let the backend load native addons (the manifest's `backend.nativeAddons`). */
  nativeAddons?: boolean;
  /** May start child processes (the manifest's `backend.childProcesses`); they run outside the permission model. */
  allowChildProcesses?: boolean;
  /** May start worker threads (the manifest's `backend.workerThreads`): Node's `--allow-worker`. */
  allowWorkerThreads?: boolean;
  /** Names of extra ports the backend listens on (the manifest's `backend.listeners`), passed as MORTISE_LISTENERS. */
  listeners?: string[];
  /** Extra environment (config, core URL, service-account token); PORT is set by the runtime. */
  env: Record<string, string>;
}

export type BackendState = 'Starting' | 'Ready' | 'Unhealthy' | 'Restarting' | 'Failed' | 'Stopped';

export interface BackendStatus {
  id: string;
  extension: string;
  version: string;
  state: BackendState;
  /** Where the backend is reached (http://127.0.0.1:<port> for a process, its Service in a cluster) once started. */
  url?: string;
  restarts: number;
  /** The ports of the spec's listeners, by name (on 127.0.0.1). */
  listeners?: Record<string, number>;
  /**
   * A Unix socket the backend serves on as well as `url` (a process backend that took the runtime's
   * MORTISE_SOCKET): the core's gateway and edge send the requests for `url` there.
   */
  socketPath?: string;
  /** Why it is not Ready (last exit code/signal, health check error). */
  message?: string;
  pid?: number;
  /** Its last starts all ended the same way before it was ready (it is still restarted, with backoff). */
  crashLooping?: boolean;
  /** When the next restart is due (Restarting). */
  nextRestartAt?: string;
}

export interface BackendLogLine {
  /** Its number in the backend's log (1, 2, 3… across restarts), for readers resuming after it. */
  seq: number;
  time: string;
  stream: 'stdout' | 'stderr';
  line: string;
}

/** `status` on every state change; `log` for every line a backend writes (for followers of its log). */
export interface RuntimeEvents {
  status: [BackendStatus];
  log: [id: string, line: BackendLogLine];
}

export interface Runtime extends EventEmitter<RuntimeEvents> {
  /** Starts (or keeps running) a backend; resolves once the process is spawned. Idempotent per id. */
  start(spec: BackendSpec): Promise<BackendStatus>;
  /** Resolves when the backend is Ready; rejects with the reason after `timeoutMs` or if it fails. */
  waitReady(id: string, timeoutMs: number): Promise<BackendStatus>;
  /** Graceful stop (SIGTERM, then SIGKILL after a grace period); no restart afterwards. */
  stop(id: string): Promise<void>;
  status(id: string): BackendStatus | undefined;
  list(): BackendStatus[];
  /**
   * A backend's log lines, oldest first: the last `tail`, or those after `afterSeq` (with how many
   * of those were rotated away). Kept within a size cap, across restarts where the runtime has a
   * directory for them.
   */
  logs(id: string, q?: LogReadQuery): Promise<LogRead<BackendLogLine>>;
  /** Stops every backend (core shutdown). */
  stopAll(): Promise<void>;
}
