// The storage boundary. Everything above this interface is identical in embedded
// (SQLite) and kubernetes (kube-apiserver) modes, so it speaks in plain objects,
// opaque resourceVersions and typed errors rather than SQL or HTTP.

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
  [key: string]: unknown;
}

/** Identifies a stored collection: the API group and the plural resource name. */
export interface ResourceRef {
  group: string;
  resource: string;
}

export interface ObjectKey extends ResourceRef {
  namespace: string; // '' for cluster-scoped objects
  name: string;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  type: WatchEventType;
  ref: ResourceRef;
  namespace: string;
  name: string;
  /** Opaque: compare only for equality, hand back to `watch` (the SQLite store's are digits, a cluster's are etcd's). */
  resourceVersion: string;
  object: KubeObject;
  /**
   * The object before this event (MODIFIED/DELETED) when the store still knows it. Replayed
   * MODIFIED events carry it only when the labels changed, and then only the labels are the old ones.
   */
  previous?: KubeObject;
}

export interface ListOptions {
  namespace?: string; // undefined = all namespaces
  /** Return only keys after this (namespace/name) — the continue position. */
  after?: { namespace: string; name: string };
  /** Upper bound on rows read from storage; the caller filters and pages. */
  limit?: number;
}

export interface ListResult {
  items: KubeObject[];
  /** The store's resourceVersion when the list was read (opaque). */
  resourceVersion: string;
  /** Present when `limit` cut the result: the last key returned. */
  last?: { namespace: string; name: string };
}

export interface WatchOptions {
  namespace?: string;
  /** Deliver events strictly after this resourceVersion (replaying history); opaque. */
  sinceResourceVersion?: string;
  /**
   * Selectors a store may apply itself (a cluster's API server does, and sends an object that
   * leaves the selection as DELETED); the caller filters again, so a store may ignore them.
   */
  labelSelector?: string;
  fieldSelector?: string;
  /**
   * The watcher feeds a cache the core decides requests from (authorization, sessions, users,
   * keys, routes): a write through this store returns only once the cache has its event, so the
   * next request is decided on it. The embedded store delivers every event at commit, before the
   * write returns; the cluster's store waits for the watch (store/kube/write-visibility.ts).
   * Not with selectors (which events pass them is the API server's to say).
   */
  cache?: boolean;
}

/** A page as the Kubernetes API selects it: selectors and limit/continue applied by the store. */
export interface SelectOptions {
  namespace?: string;
  /** Label selector text as the Kubernetes API takes it (the caller checked it). */
  labelSelector?: string;
  /** Field selector text on metadata.name and metadata.namespace (escaped as the Kubernetes API escapes values). */
  fieldSelector?: string;
  limit?: number;
  /** The store's own continue token, from the previous page. */
  continue?: string;
}

export interface SelectedPage {
  items: KubeObject[];
  resourceVersion: string;
  /** The store's token for the next page, when `limit` cut this one. */
  continue?: string;
}

export interface Watcher {
  stop(): void;
}

/**
 * How a watch ends other than by `stop()`: a resourceVersion too old to replay (Expired, the
 * 410 of the Kubernetes API) or a store that went away. It arrives after `watch()` returned, as
 * a cluster's does mid-stream; no event follows it.
 */
export type WatchErrorHandler = (error: StoreError) => void;

export class StoreError extends Error {
  constructor(
    readonly reason: 'NotFound' | 'AlreadyExists' | 'Conflict' | 'Expired' | 'Invalid' | 'Forbidden' | 'Unavailable',
    message: string,
    /** For Expired: the oldest resourceVersion still replayable, when the store knows it. */
    readonly oldestResourceVersion?: string,
  ) {
    super(message);
  }
}

export interface StoreUpdateOptions {
  /**
   * The part of the object this write changes, as a cluster's subresources split them: `status`
   * (only status), `finalize` (only a namespace's spec.finalizers), or the main resource (all but
   * status, for a kind with a status subresource). A cluster writes that part alone, in one write;
   * the SQLite store stores the whole object the caller prepared.
   */
  subresource?: '' | 'status' | 'finalize';
}

/** What a deletion asks of the store, as the DeleteOptions of the Kubernetes API. */
export interface StoreDeleteOptions {
  /** Conflict unless the stored object still has this uid / resourceVersion. */
  preconditions?: { uid?: string; resourceVersion?: string };
  /** Orphan and Foreground add their finalizer (`orphan`, `foregroundDeletion`). */
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
}

export interface StoreDeleteResult {
  /** The removed object, or the marked one while finalizers remain. */
  object: KubeObject;
  /** True when the object was only marked (deletionTimestamp set, finalizers pending). */
  pending: boolean;
}

export interface ResourceStore {
  get(key: ObjectKey): Promise<KubeObject | undefined>;
  /**
   * Optional: a namespace for the live-namespace check before every namespaced create, from a
   * cache when the store has one (a cluster's: a request saved per create). It may be a moment
   * stale only where the store itself refuses the write (the cluster's namespace lifecycle).
   */
  namespaceForCreate?(name: string): Promise<KubeObject | undefined>;
  list(ref: ResourceRef, opts?: ListOptions): Promise<ListResult>;
  /** Every object (any resource) whose ownerReferences name this uid. */
  listDependents(ownerUid: string): Promise<Array<{ ref: ResourceRef; object: KubeObject }>>;
  /** Owner uids that dependents still name but no stored object has (missed cascades). */
  danglingOwnerUids(): Promise<string[]>;
  /** Inserts; fails with AlreadyExists. Sets metadata.resourceVersion. */
  create(ref: ResourceRef, obj: KubeObject): Promise<KubeObject>;
  /**
   * Replaces; when `expectedResourceVersion` is given and differs from the stored one the
   * write fails with Conflict. Sets metadata.resourceVersion. System fields (uid,
   * creationTimestamp, deletionTimestamp) are the store's: an API server keeps its own. An
   * update that leaves an object being deleted without finalizers removes it, as an API server
   * does: the returned object then still has its deletionTimestamp.
   */
  update(ref: ResourceRef, obj: KubeObject, expectedResourceVersion?: string, opts?: StoreUpdateOptions): Promise<KubeObject>;
  /** Removes now, whatever the finalizers; Conflict when `expectedResourceVersion` is stale. Returns the removed object. */
  delete(key: ObjectKey, expectedResourceVersion?: string): Promise<KubeObject>;
  /**
   * A deletion as an API server does it (the REST DELETE): with finalizers pending (the
   * object's, a namespace's spec.finalizers, the propagation policy's) the object is marked
   * with a deletionTimestamp and stays; otherwise it is removed. Preconditions fail with Conflict.
   */
  deleteObject(key: ObjectKey, opts?: StoreDeleteOptions): Promise<StoreDeleteResult>;
  /**
   * Optional fast path: the stored JSON of every object, unparsed, for lists that need no
   * filtering or transformation (the handler splices them into the response).
   */
  listRaw?(ref: ResourceRef, opts?: ListOptions): { rows: string[]; resourceVersion: string };
  /**
   * Optional: a whole collection's stored JSON when the store keeps it in memory (read and kept
   * now if it fits); undefined when it cannot be kept. Selections and pages over it then read no
   * storage (resource-list.ts); a collection it cannot keep is paged through `list` instead.
   */
  listRawKept?(ref: ResourceRef, namespace: string | undefined): { rows: string[]; resourceVersion: string } | undefined;
  /**
   * Optional: the store selects and pages itself, as a cluster's API server does (the selectors
   * and the paging are pushed down; the continue token is the store's). Undefined for a
   * collection it cannot select that way: the caller then filters full reads of `list`.
   */
  selectPage?(ref: ResourceRef, opts: SelectOptions): Promise<SelectedPage> | undefined;
  /** Optional: one object's stored JSON text, for reads that need no transformation. */
  getRaw?(key: ObjectKey): string | undefined;
  /**
   * Calls `onEvent` for every change after `sinceResourceVersion` (replay), then live ones.
   * A resourceVersion too old to replay ends the watch through `onError` (Expired), never by
   * throwing: a cluster only says so once the stream is open.
   */
  watch(ref: ResourceRef, opts: WatchOptions, onEvent: (event: StoreEvent) => void, onError?: WatchErrorHandler): Watcher;
  /** The newest resourceVersion written (opaque). */
  currentResourceVersion(): Promise<string>;
  close(): Promise<void>;
}
