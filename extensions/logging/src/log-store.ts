// What the query side needs from a store of log lines, so another store can sit beside SQLite.

export type Labels = Record<string, string>;

/** A label's value; only the set's own (`constructor` or `__proto__` are no labels of every stream). */
export const labelValue = (labels: Labels, name: string): string | undefined => (Object.hasOwn(labels, name) ? labels[name] : undefined);

/** One stream's lines in a push: its labels (tenancy labels already set by the caller) and entries. */
export interface StreamBatch {
  labels: Labels;
  /** Where the stream belongs: the namespace ('' for the platform's own logs) and its workspace. */
  namespace: string;
  workspace: string;
  entries: Array<{ tsNs: bigint; line: string }>;
}

export interface StoredStream {
  id: number;
  labels: Labels;
  namespace: string;
  workspace: string;
  /** The time of its newest line. */
  lastNs: bigint;
}

export interface Entry {
  tsNs: bigint;
  streamId: number;
  line: string;
}

export interface EntryQuery {
  streamIds: number[];
  /** Inclusive start, exclusive end, in nanoseconds since the epoch. */
  startNs: bigint;
  endNs: bigint;
  direction: 'forward' | 'backward';
  /** Substrings every line holds (case-sensitive); the store may use an index to find candidates. */
  contains?: string[];
}

export interface RetentionPolicy {
  /** Lines older than this are deleted. */
  maxAgeMs?: number;
  /** The store's files are kept under this many bytes, oldest lines first. */
  maxBytes?: number;
}

export interface LogStore {
  /** Writes the batch atomically; resolves once it is durable (acknowledge only then). */
  append(batch: StreamBatch[]): Promise<number>;
  /** How many streams the namespace holds (streams go when retention has removed all their lines). */
  streamCount(namespace: string): number;
  /** Per namespace, how many distinct streams of the batch (with lines) the store does not hold yet. */
  newStreams(batch: StreamBatch[]): Map<string, number>;
  /** Streams whose namespace is in `namespaces` (platform streams when it holds ''), optionally active in a time range. */
  streams(namespaces: ReadonlySet<string> | 'all', range?: { startNs: bigint; endNs: bigint }): StoredStream[];
  /** Entries of the given streams in time order (`direction`); iterate lazily, stop when done. */
  entries(q: EntryQuery): Iterable<Entry>;
  /** Applies the policy; returns how many lines were deleted. */
  enforceRetention(policy: RetentionPolicy, nowMs?: number): number;
  sizeBytes(): number;
  close(): void;
}
