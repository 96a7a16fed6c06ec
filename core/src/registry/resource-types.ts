import type { KubeObject } from '../store/resource-store.js';
import type { KindDefinition, RequestContext } from './kind.js';

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

export interface WriteOptions {
  dryRun?: boolean;
  fieldValidation?: FieldValidation;
  subresource?: '' | 'status';
  /** Who writes, recorded in metadata.managedFields; the core's own writers are "mortise-core". */
  fieldManager?: string;
  /** The apiVersion the client used (managedFields record it); default the storage version. */
  apiVersion?: string;
  /**
   * The body was just parsed from a request and checked as plain data (readObjectBody), and
   * nobody else holds it: decoding takes it as it is, without a copy or a second check.
   */
  freshBody?: boolean;
}

export interface ApplyOptions extends WriteOptions {
  fieldManager: string;
  /** Take fields other managers own instead of refusing with a conflict. */
  force?: boolean;
  /** Called before an apply creates the object: throws when the caller may not create it. */
  beforeCreate?: () => Promise<void>;
}

export interface WriteResult {
  object: KubeObject;
  warnings: string[];
  /** True when a delete only marked the object (finalizers pending). */
  pending?: boolean;
}

export interface ListQuery {
  labelSelector?: string | null;
  fieldSelector?: string | null;
  /** Only the object of this name: the request named it, and was authorized for it alone. */
  name?: string;
  limit?: number;
  continue?: string | null;
}

export interface ListPage {
  items: KubeObject[];
  resourceVersion: string;
  continue?: string;
}

export interface DeleteOptions {
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

export interface WatchQuery {
  resourceVersion?: string | null;
  labelSelector?: string | null;
  fieldSelector?: string | null;
  /** Only the object of this name: the request named it, and was authorized for it alone. */
  name?: string;
  sendInitialEvents?: boolean;
}

export interface AdmissionRequest {
  operation: 'CREATE' | 'UPDATE';
  def: KindDefinition;
  object: KubeObject;
  old?: KubeObject;
  /** Who asks; no user means the core itself (controllers), which admission plugins trust. */
  ctx: RequestContext;
}

/** Throws an ApiError to refuse the write. */
export type AdmissionPlugin = (request: AdmissionRequest) => Promise<void>;

/** ERROR carries a Status and ends the watch (a resourceVersion too old: 410 Expired). */
export type WatchSink = (type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR', object: KubeObject) => void;
