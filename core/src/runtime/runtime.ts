import type { EventEmitter } from 'node:events';
import type { LogRead, LogReadQuery } from '../ops/durable-log.js';

// The boundary between the installer and where extension backends run: child processes in the
// embedded mode (ProcessRuntime), Deployments + Services in the kubernetes mode.

export interface BackendSpec {
  /** Unique per running instance, e.g. `hello-world@0.1.0` (an upgrade runs two side by side). */
  id: string;
  extension: string;
  version: string;
  /** Absolute path of the backend's entry file (inside the unpacked package). */
  entry: string;
  /** The unpacked package: the process's working directory. */
  packageDir: string;
  /** Writable directory kept across versions (the extension's data). */
  dataDir: string;
  /** Directories the backend may also read (the platform's modules). */
  readOnlyPaths?: string[];
  /** Health path answered 2xx when ready, e.g. `/healthz`. */
  healthPath: string;
  /** Let the backend load native addons (the manifest's `backend.nativeAddons`). */
  nativeAddons?: boolean;
  /** May start child processes (the manifest's `backend.childProcesses`); they run outside the permission model. */
  allowChildProcesses?: boolean;
  /** Names of extra ports the backend listens on (the manifest's `backend.listeners`), passed as MORTISE_LISTENERS. */
  listeners?: string[];
  /** Extra environment (config, core URL, service-account token); PORT is set by the runtime. */
  env: Record<string, string>;
  /** The container image (the manifest's `backend.image`), for runtimes that run containers. */
  image?: string;
}

export type BackendState = 'Starting' | 'Ready' | 'Unhealthy' | 'Restarting' | 'Failed' | 'Stopped';

export interface BackendStatus {
  id: string;
  state: BackendState;
  /** Where the backend listens (http://127.0.0.1:<port>) once started. */
  url?: string;
  restarts: number;
  /** The ports of the spec's listeners, by name (on 127.0.0.1). */
  listeners?: Record<string, number>;
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
