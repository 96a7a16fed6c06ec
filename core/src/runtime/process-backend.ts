import type { ChildProcess } from 'node:child_process';
import type { Logger } from '../ops/logger.js';
import type { DurableLog } from '../ops/durable-log.js';
import type { FsAllowList } from './permissions.js';
import type { LocalBackendSpec } from './process-runtime-options.js';
import type { BackendLogLine, BackendState } from './runtime.js';

// What ProcessRuntime keeps per backend (Backend) and per process of it (Instance).

export interface Instance {
  child: ChildProcess;
  pid: number;
  port: number;
  url: string;
  /** The socket offered to it (MORTISE_SOCKET). */
  socketPath?: string;
  /** It answered its health path on `socketPath` when it got Ready: the core sends its requests there. */
  servesSocket?: boolean;
  stderrTail: string[];
  healthFailures: number;
  lastHealthError?: string;
  /** Has been Ready at least once. */
  ready: boolean;
  healthTimer?: NodeJS.Timeout;
  startupTimer?: NodeJS.Timeout;
  killReason?: 'stop' | 'startup-timeout';
  exitInfo?: { code: number | null; signal: NodeJS.Signals | null };
  exited: Promise<void>;
  streamsClosed: Promise<void>;
}

export interface Backend {
  spec: LocalBackendSpec;
  fingerprint: string;
  log: Logger;
  streamLog: Record<BackendLogLine['stream'], Logger>;
  logs: DurableLog<BackendLogLine>;
  state: BackendState;
  message?: string;
  /** Why the last process ended, kept for `waitReady`'s reason while the next one starts. */
  lastExit?: string;
  /** Consecutive starts that ended with `lastExit` before becoming Ready. */
  sameFailures: number;
  restarts: number;
  /** The backoff exponent. */
  failures: number;
  portRetries: number;
  nextRestartAt?: string;
  /** The last starts all failed the same way (see CRASH_LOOP_AFTER); cleared once Ready. */
  crashLooping?: boolean;
  /** False once stopped (or failed for good): no restart. */
  wanted: boolean;
  proc?: Instance;
  restartTimer?: NodeJS.Timeout;
  resetTimer?: NodeJS.Timeout;
  allow?: FsAllowList;
  /** The ports of the spec's listeners: picked at the first start and kept across restarts (a data plane's address stays). */
  listenerPorts?: Record<string, number>;
}
