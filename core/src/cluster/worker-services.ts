import { EventEmitter } from 'node:events';
import type { AuditEvent, AuditFilter, AuditLog, AuditPage } from '../audit/audit-log.js';
import type { LogRead, LogReadQuery } from '../ops/durable-log.js';
import type { BackendLogLine, BackendSpec, BackendStatus, Runtime, RuntimeEvents } from '../runtime/runtime.js';
import type { ToPrimary } from './messages.js';

const primaryOnly = (what: string) => new Error(`${what} is the primary process's job (core/src/cluster/primary-routes.ts sends such requests there)`);

/** A worker's audit log: events go to the primary, which writes them; reading is the primary's. */
export class ForwardedAuditLog implements AuditLog {
  constructor(private readonly send: (m: ToPrimary) => void) {}

  record(event: AuditEvent): void {
    this.send({ mortise: 'audit', event });
  }

  query(_filter: AuditFilter): Promise<AuditPage> {
    return Promise.reject(primaryOnly('reading the audit log'));
  }

  // eslint-disable-next-line require-yield
  async *export(_filter: AuditFilter): AsyncIterable<AuditEvent> {
    throw primaryOnly('reading the audit log');
  }

  get(_auditID: string): Promise<AuditEvent | undefined> {
    return Promise.reject(primaryOnly('reading the audit log'));
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {}
}

/**
 * A worker's view of the extension backends the primary runs: their states, as the primary tells
 * them on every change (what the gateway's 503 "not ready" answers read). Running them is the
 * primary's.
 */
export class BackendsView extends EventEmitter<RuntimeEvents> implements Runtime {
  private backends: BackendStatus[] = [];

  update(backends: BackendStatus[]): void {
    this.backends = backends;
  }

  list(): BackendStatus[] {
    return this.backends;
  }

  status(id: string): BackendStatus | undefined {
    return this.backends.find((b) => b.id === id);
  }

  start(_spec: BackendSpec): Promise<BackendStatus> {
    return Promise.reject(primaryOnly('starting a backend'));
  }

  waitReady(_id: string, _timeoutMs: number): Promise<BackendStatus> {
    return Promise.reject(primaryOnly('starting a backend'));
  }

  stop(_id: string): Promise<void> {
    return Promise.reject(primaryOnly('stopping a backend'));
  }

  logs(_id: string, _q?: LogReadQuery): Promise<LogRead<BackendLogLine>> {
    return Promise.reject(primaryOnly('reading a backend\'s log'));
  }

  async stopAll(): Promise<void> {}
}
