// The audit log: who did what, when, and how it ended. Shaped like a trimmed audit.k8s.io/v1
// Event so tools that read Kubernetes audit events read these too.

export const auditGroup = 'audit.mortise.io';
export const auditVersion = 'v1alpha1';

export interface AuditObjectRef {
  apiGroup?: string;
  apiVersion?: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  /** The workspace the object belongs to, where the request says so. */
  workspace?: string;
}

export interface AuditEvent {
  /** A UUID; the response carries it as the `Audit-ID` header. */
  auditID: string;
  stage: 'ResponseComplete';
  /** RFC3339 with milliseconds. */
  requestReceivedTimestamp: string;
  stageTimestamp: string;
  /** The Kubernetes verb for resource requests (create, update, patch, delete, list, ...), else the lower-cased HTTP method. */
  verb: string;
  requestURI: string;
  user: { username: string; groups: string[] };
  sourceIPs: string[];
  userAgent?: string;
  objectRef?: AuditObjectRef;
  responseStatus: { code: number; reason?: string; message?: string };
  /** `decision` and `reason` of authorization, and whatever admission added (a tenant move's workspaces). */
  annotations?: { decision?: 'allow' | 'forbid'; reason?: string; [key: string]: string | undefined };
}

export interface AuditFilter {
  user?: string;
  verb?: string;
  resource?: string;
  /** '' is the core group. */
  apiGroup?: string;
  namespace?: string;
  workspace?: string;
  name?: string;
  /** An exact code, or a range (`4xx` is `{ min: 400, max: 499 }`). */
  code?: number | { min: number; max: number };
  /** requestReceivedTimestamp >= since. */
  since?: Date;
  /** requestReceivedTimestamp < until. */
  until?: Date;
  /** Page size of `query` (export ignores it). */
  limit?: number;
  /** The `continue` of the previous page of the same query. */
  continue?: string;
}

export interface AuditPage {
  /** Newest first. */
  items: AuditEvent[];
  /** Set when more events match: pass it back as `filter.continue`. */
  continue?: string;
}

export interface AuditRetention {
  /** The newest this many events are kept (default 100,000; 0 or less: no bound). */
  maxEvents?: number;
  /** Events older than this are dropped (default 30; 0 or less: no bound). */
  maxAgeDays?: number;
}

export interface AuditLog {
  /** Queues an event; it never blocks on storage (writes are batched). */
  record(event: AuditEvent): void;
  /** One page of matching events, newest first. Throws InvalidContinueError for a bad token. */
  query(filter: AuditFilter): Promise<AuditPage>;
  /** Every matching event, oldest first (a log file's order), read in pages as the consumer pulls. */
  export(filter: AuditFilter): AsyncIterable<AuditEvent>;
  /** The event with this auditID (the `Audit-ID` response header), while it is kept. */
  get(auditID: string): Promise<AuditEvent | undefined>;
  /** Writes whatever is queued. */
  flush(): Promise<void>;
  /** Flushes, then releases the storage; later events are dropped. */
  close(): Promise<void>;
}

/** A continue token that is malformed or was issued for another query. */
export class InvalidContinueError extends Error {}
