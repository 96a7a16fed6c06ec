// What the primary and its serving workers say to each other over the cluster's IPC channel
// (JSON, FIFO per worker). Every message carries `mortise` so other users of the channel
// (node:cluster itself) are told apart.
import type { AuditEvent } from '../audit/audit-log.js';
import type { BackendStatus } from '../runtime/runtime.js';
import type { KubeObject, ObjectKey, ResourceRef, StoreDeleteOptions, StoreError, StoreEvent } from '../store/resource-store.js';

/** A write a worker asks the primary (the store's single writer) to make. */
export type StoreWrite =
  | { op: 'create'; ref: ResourceRef; obj: KubeObject }
  | { op: 'update'; ref: ResourceRef; obj: KubeObject; expectedResourceVersion?: string }
  | { op: 'delete'; key: ObjectKey; expectedResourceVersion?: string }
  | { op: 'deleteObject'; key: ObjectKey; opts?: StoreDeleteOptions };

/** A StoreError as it crosses the channel (`reason` undefined: another error, its message only). */
export interface WireError {
  reason?: StoreError['reason'];
  message: string;
  oldestResourceVersion?: string;
}

export type ToWorker =
  | { mortise: 'event'; event: StoreEvent }
  | { mortise: 'written'; id: number; result?: unknown; error?: WireError }
  | { mortise: 'backends'; backends: BackendStatus[] }
  | { mortise: 'primary'; url: string }
  | { mortise: 'metrics'; id: number };

export type ToPrimary =
  | { mortise: 'write'; id: number; write: StoreWrite }
  /** The worker has handed every event up to `resourceVersion` to its watchers. */
  | { mortise: 'ack'; resourceVersion: number }
  | { mortise: 'audit'; event: AuditEvent }
  | { mortise: 'listening'; url: string; httpsUrl: string }
  | { mortise: 'metrics'; id: number; metrics: unknown };

export function isMessage<T extends { mortise: string }>(m: unknown): m is T {
  return typeof m === 'object' && m !== null && typeof (m as { mortise?: unknown }).mortise === 'string';
}
