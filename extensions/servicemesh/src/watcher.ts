import type { CoreClient } from '@mortise/extension-sdk';

// List-then-watch of one resource across namespaces, through the core's API with the
// extension's service account, as a Kubernetes informer does: the list fills the cache, the
// watch (newline-delimited JSON events from the list's resourceVersion) keeps it current, and a
// broken or expired watch lists again. The cache is the rules' source of truth; nothing is kept
// on disk, so a restarted backend has every rule again after its first list.

export interface WatchedObject { metadata: { name: string; namespace?: string; resourceVersion?: string; generation?: number } }
export type WatchHandler<T> = (type: 'ADDED' | 'MODIFIED' | 'DELETED', object: T) => void;

export class ResourceWatcher<T extends WatchedObject> {
  private stopped = false;
  private abort?: AbortController;
  private synced!: () => void;
  /** Resolves after the first list. */
  readonly ready = new Promise<void>((resolve) => (this.synced = resolve));

  constructor(private readonly core: CoreClient, private readonly token: string | undefined, private readonly path: string, private readonly onEvent: WatchHandler<T>, private readonly onReset: (items: T[]) => void, private readonly log: (msg: string) => void) {}

  start(): void {
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }

  private async loop(): Promise<void> {
    let backoff = 200;
    while (!this.stopped) {
      try {
        const list = await this.core.get<{ metadata: { resourceVersion: string }; items: T[] }>(this.path);
        this.onReset(list.items);
        this.synced();
        backoff = 200;
        await this.watch(list.metadata.resourceVersion);
      } catch (e) {
        if (this.stopped) return;
        this.log(`watch of ${this.path} failed: ${(e as Error).message}; listing again`);
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }

  private async watch(resourceVersion: string): Promise<void> {
    this.abort = new AbortController();
    const url = new URL(this.path.replace(/^\/+/, ''), this.core.baseUrl);
    url.searchParams.set('watch', 'true');
    url.searchParams.set('resourceVersion', resourceVersion);
    url.searchParams.set('allowWatchBookmarks', 'true');
    const res = await fetch(url, { headers: this.token ? { authorization: `Bearer ${this.token}` } : {}, signal: this.abort.signal });
    if (!res.ok || !res.body) throw new Error(`the core answered ${res.status}`);
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (!line) continue;
        const event = JSON.parse(line) as { type: string; object: T & { kind?: string; code?: number } };
        if (event.type === 'ERROR') throw new Error(`watch error ${event.object.code ?? ''}`);
        if (event.type === 'BOOKMARK') continue;
        this.onEvent(event.type as 'ADDED' | 'MODIFIED' | 'DELETED', event.object);
      }
    }
    if (!this.stopped) throw new Error('the watch ended');
  }
}
