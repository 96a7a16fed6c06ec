import type { RequestListener } from 'node:http';
import type { AuditLog } from '../audit/audit-log.js';

/**
 * What a process of a multi-process core (MORTISE_WORKERS ≥ 2, docs/operations.md) does
 * differently from a single-process core. The primary writes the store, runs the controllers and
 * the extension backends, and serves only the workers (on a loopback port); the workers serve
 * clients from a replica of the store.
 */
export type ClusterRole =
  | {
    role: 'primary';
    /** The address clients use (the workers' shared port), once a worker listens on it: issuer and core URL. */
    advertised: () => { url: string; httpsUrl: string } | undefined;
    /** Where the primary's own (loopback) listener is, for the workers' primary routes. */
    listening: (url: string) => void;
    /** `/metrics`: the primary's and every worker's, merged. */
    metricsText: () => Promise<string>;
  }
  | {
    role: 'worker';
    /** Where this worker's audit events go (the primary's log). */
    audit: AuditLog;
    /** Requests only the primary can answer (backend and core logs, audit queries, merged metrics) are sent there. */
    primaryRoutes: (fallback: RequestListener) => RequestListener;
  };
