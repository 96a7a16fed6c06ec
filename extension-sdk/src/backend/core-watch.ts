import { CoreApiError, type CoreClient } from './core-client.js';

// A backend's view of a collection kept current the Kubernetes way (as an informer does): list,
// then watch from the list's resourceVersion; a dropped stream resumes from the last version
// seen (bookmarks included), and a version too old to resume from (410) lists again. Handlers
// run one at a time, in the order the core sent the events.

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface WatchedObject {
  metadata?: { resourceVersion?: string; [field: string]: unknown };
}

export interface CollectionWatchHandlers<T> {
  /** The whole collection: after the first list, and after every list a 410 forced. */
  onList(items: T[]): void | Promise<void>;
  onEvent(type: WatchEventType, object: T): void | Promise<void>;
  /** A list or stream failed (it is retried with backoff). */
  onError?(error: Error): void;
}

export interface CollectionWatchOptions {
  /** Extra query (labelSelector, fieldSelector) for both the list and the watch. */
  query?: Record<string, string>;
  /** Backoff between failed attempts: from minRetryMs doubling to maxRetryMs (defaults 100 ms, 5 s). */
  minRetryMs?: number;
  maxRetryMs?: number;
  /** The server ends each stream after this long and it is resumed (default 300 s). */
  timeoutSeconds?: number;
}

export interface CollectionWatch {
  /** Resolves once the first list has been handled. */
  readonly synced: Promise<void>;
  /** The last resourceVersion handled. */
  readonly resourceVersion: string | undefined;
  stop(): void;
}

interface RawEvent {
  type: string;
  object: WatchedObject & { code?: number; message?: string };
}

export function watchCollection<T extends WatchedObject>(client: CoreClient, path: string, handlers: CollectionWatchHandlers<T>, opts: CollectionWatchOptions = {}): CollectionWatch {
  const abort = new AbortController();
  const minRetry = opts.minRetryMs ?? 100;
  const maxRetry = opts.maxRetryMs ?? 5000;
  let rv: string | undefined;
  let markSynced!: () => void;
  const synced = new Promise<void>((resolve) => (markSynced = resolve));

  const list = async () => {
    const result = await client.get<{ metadata?: { resourceVersion?: string }; items: T[] }>(path, { query: opts.query, signal: abort.signal });
    await handlers.onList(result.items);
    rv = result.metadata?.resourceVersion;
    markSynced();
  };

  /** One stream; returns when it ends cleanly, throws when it fails or the version expired. */
  const stream = async () => {
    const res = await client.openStream(path, {
      query: { ...opts.query, watch: 'true', allowWatchBookmarks: 'true', resourceVersion: rv, timeoutSeconds: opts.timeoutSeconds ?? 300 },
      signal: abort.signal,
    });
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let at: number;
      while ((at = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, at).trim();
        buffer = buffer.slice(at + 1);
        if (!line) continue;
        const event = JSON.parse(line) as RawEvent;
        if (event.type === 'ERROR') {
          if (event.object.code === 410) rv = undefined; // too old: list again
          throw new CoreApiError(`watch ${path}: ${event.object.message ?? 'error event'}`, event.object.code ?? 500, undefined, 'GET', path);
        }
        if (event.type !== 'BOOKMARK') await handlers.onEvent(event.type as WatchEventType, event.object as T);
        rv = event.object.metadata?.resourceVersion ?? rv;
      }
    }
  };

  void (async () => {
    let delay = minRetry;
    while (!abort.signal.aborted) {
      try {
        if (rv === undefined) await list();
        await stream();
        delay = minRetry;
      } catch (e) {
        if (abort.signal.aborted) break;
        handlers.onError?.(e as Error);
        // An expired version lists again at once; other failures back off.
        if (!(e instanceof CoreApiError && e.code === 410)) {
          await new Promise((r) => setTimeout(r, delay));
          delay = Math.min(delay * 2, maxRetry);
        }
      }
    }
  })();

  return {
    synced,
    get resourceVersion() {
      return rv;
    },
    stop: () => abort.abort(),
  };
}
