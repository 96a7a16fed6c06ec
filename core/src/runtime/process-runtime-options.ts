import type { Logger } from '../ops/logger.js';
import type { BackendSpec } from './runtime.js';

/** Where a backend's package is on this machine: what ProcessRuntime runs. */
export interface LocalPackage {
  /** Absolute path of the entry file (inside packageDir). */
  entry: string;
  /** The unpacked package: the process's working directory. */
  packageDir: string;
  /** Writable directory kept across versions (the extension's data). */
  dataDir: string;
  /** Directories the backend may also read (the platform's modules). */
  readOnlyPaths?: string[];
}

/** A spec with its package located: what one process is started from. */
export type LocalBackendSpec = BackendSpec & LocalPackage;

export interface ProcessRuntimeOptions {
  logger: Logger;
  /**
   * Finds (unpacking from the core's package cache when needed) the package a spec names, checked
   * against its digest. A spec's package is named, never a path: the runtime resolves it itself.
   */
  locatePackage: (spec: BackendSpec) => Promise<LocalPackage>;
  /** The node binary backends run on (default: the core's own). */
  nodePath?: string;
  /** How often the health path is polled once Ready (default 1000 ms; while Starting at most every 200 ms). */
  healthIntervalMs?: number;
  /** Deadline of one health request (default 2000 ms). */
  healthTimeoutMs?: number;
  /** A backend not Ready this long after its start is killed and restarted (default 60 s). */
  startupTimeoutMs?: number;
  /** Between SIGTERM and SIGKILL (default 5000 ms). */
  stopGraceMs?: number;
  /**
   * Restart delay `baseMs · 2^n` capped at `maxMs` (n: restarts since the backend last stayed
   * Ready for `resetAfterMs`). Defaults 500 ms, 60 s, 60 s.
   */
  backoff?: { baseMs?: number; maxMs?: number; resetAfterMs?: number };
  /** Where each backend's stdout/stderr is kept, `<logDir>/<id>/` (in memory without it). */
  logDir?: string;
  /** The size cap of each backend's log (default 4 MiB); the oldest lines rotate away beyond it. */
  logMaxBytes?: number;
  /** Confine backends with Node's permission model where the node binary has it (default true). */
  permissionModel?: boolean;
  /**
   * Where the runtime keeps `runtime.pids`, the backends it has running: a new runtime kills the
   * ones a killed core left behind. Without it nothing is recorded.
   */
  stateDir?: string;
  /**
   * Each backend watches its stdin (a pipe only the core holds) through a small module loaded
   * with `--import` and terminates itself when the core's end closes, i.e. when the core dies
   * however it dies (default true). `runtime.pids` covers the backends that do not exit then.
   */
  exitWithCore?: boolean;
  /**
   * Offer each backend a Unix socket to serve on besides its port (MORTISE_SOCKET, which the SDK's
   * backends use), in `<stateDir>/sockets` (else a private directory under the OS temp dir) while
   * any backend process runs. Default true; false: TCP only.
   */
  sockets?: boolean;
}
