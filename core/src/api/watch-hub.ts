import type { ServerResponse } from 'node:http';
import { CoalescedCheck } from '../auth/coalesced-check.js';
import type { KindDefinition } from '../registry/kind.js';
import type { ResourceService } from '../registry/resource-service.js';
import type { KubeObject, Watcher } from '../store/resource-store.js';
import { queryOf, type AppContext } from '../http/app-state.js';
import { asVersion } from './resource-handler.js';
import { badRequest } from './status.js';
import { toTable, wantsTable } from './table.js';

export interface WatchHubOptions {
  /** How often a bookmark is sent to watchers that asked for them. */
  bookmarkIntervalMs?: number;
  /** A watcher that falls this far behind is closed (it will re-watch from its last version). */
  maxBufferedBytes?: number;
  /** Longest a watch stays open without `timeoutSeconds`. */
  defaultTimeoutSeconds?: number;
}

interface OpenWatch {
  res: ServerResponse;
  def: KindDefinition;
  close(): void;
  /** Checks the caller's access again, holding events meanwhile; ends the watch if it is gone. */
  revalidate(): void;
}

/** Whether the caller who opened a watch may still have it (authenticated and authorized again). */
export type WatchAccess = () => Promise<boolean>;

/**
 * Streams watch events as newline-delimited JSON, the Kubernetes way: ADDED/MODIFIED/DELETED,
 * BOOKMARK when asked, an ERROR event with a 410 Status when the version is too old.
 */
export class WatchHub {
  private readonly open = new Set<OpenWatch>();
  private readonly bookmarkIntervalMs: number;
  private readonly maxBufferedBytes: number;
  private readonly defaultTimeoutSeconds: number;
  // Events reach every watcher of a kind in turn: serializing once serves them all.
  private lastObject?: KubeObject;
  private lastType?: string;
  private lastLine?: string;
  /** Counts revalidate() calls: a watch that was opening meanwhile is checked once it is open. */
  private revalidations = 0;

  constructor(private readonly service: ResourceService, opts: WatchHubOptions = {}) {
    this.bookmarkIntervalMs = opts.bookmarkIntervalMs ?? 30_000;
    this.maxBufferedBytes = opts.maxBufferedBytes ?? 16 * 1024 * 1024;
    this.defaultTimeoutSeconds = opts.defaultTimeoutSeconds ?? 1800;
    service.kinds.on('changed', this.closeUnserved);
  }

  get size(): number {
    return this.open.size;
  }

  /**
   * Streams one kind's changes in a namespace (all when empty), of the object `name` only when
   * given. `access` is asked again at every `revalidate()`: what authorized the watch may change.
   */
  async serve(ctx: AppContext, def: KindDefinition, namespace: string, version: string, name?: string, access?: WatchAccess): Promise<void> {
    const q = queryOf(ctx);
    const timeoutSeconds = watchTimeoutOf(q.get('timeoutSeconds'), this.defaultTimeoutSeconds);
    const bookmarks = q.get('allowWatchBookmarks') === 'true' || q.get('allowWatchBookmarks') === '1';
    const res = ctx.res;
    let watcher: Watcher | undefined;
    let ended = false;
    const pending: string[] = [];
    let started = false;
    // While the caller's access is checked again, events wait in `pending`: none is sent until
    // it is known the caller may still have them.
    let checking = false;
    let bookmarkTimer: NodeJS.Timeout | undefined;
    let timeoutTimer: NodeJS.Timeout | undefined;

    const writeLine = (line: string) => {
      if (ended) return;
      if (!started || checking) {
        pending.push(line);
        return;
      }
      res.write(line);
      if (res.writableLength > this.maxBufferedBytes) entry.close();
    };
    const flush = () => {
      for (const line of pending.splice(0)) {
        if (ended) return;
        res.write(line);
      }
      if (res.writableLength > this.maxBufferedBytes) entry.close();
    };
    const asTable = wantsTable(ctx.get('accept'));
    const includeObject = q.get('includeObject');
    let sentColumns = false;
    const send = (type: string, obj: KubeObject) => {
      if (asTable && type !== 'BOOKMARK') {
        // kubectl get -w asks for rows; column definitions go with the first one only.
        const table = toTable(def, [asVersion(obj, def, version)], { resourceVersion: obj.metadata.resourceVersion }, includeObject);
        if (sentColumns) table.columnDefinitions = [];
        sentColumns = true;
        writeLine(`${JSON.stringify({ type, object: table })}\n`);
        return;
      }
      const versioned = asVersion(obj, def, version);
      if (versioned !== this.lastObject || type !== this.lastType) {
        this.lastObject = versioned;
        this.lastType = type;
        this.lastLine = `${JSON.stringify({ type, object: versioned })}\n`;
      }
      writeLine(this.lastLine!);
    };
    const entry: OpenWatch = {
      res,
      def,
      close: () => {
        if (ended) return;
        ended = true;
        recheck?.cancel();
        watcher?.stop();
        clearInterval(bookmarkTimer);
        clearTimeout(timeoutTimer);
        this.open.delete(entry);
        pending.length = 0;
        if (!res.writableEnded) res.end();
      },
      revalidate: () => {
        if (!recheck || ended) return;
        checking = true;
        recheck.request();
      },
    };
    const recheck = access && new CoalescedCheck(access, (allowed) => {
      if (ended) return;
      if (!allowed) return entry.close();
      checking = false;
      if (started) flush();
    });

    let lastRv = '';
    let failed = false;
    const revalidationsAtOpen = this.revalidations;
    watcher = await this.service.watch(def, namespace, {
      resourceVersion: q.get('resourceVersion'),
      labelSelector: q.get('labelSelector'),
      fieldSelector: q.get('fieldSelector'),
      name,
      sendInitialEvents: q.get('sendInitialEvents') === 'true',
      }, (type, obj) => {
      if (type === 'ERROR') {
        // As the apiserver does: the stream carries the error (a 410 for a version too old) and ends.
        writeLine(`${JSON.stringify({ type, object: obj })}\n`);
        failed = true;
        if (started) entry.close();
        return;
      }
      if (type === 'BOOKMARK' && !bookmarks && !obj.metadata.annotations?.['k8s.io/initial-events-end']) return;
      lastRv = obj.metadata.resourceVersion ?? lastRv;
      send(type, obj);
      });
    ctx.respond = false;
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    started = true;
    if (!checking) flush();
    if (failed) {
      entry.close();
      return;
    }
    this.open.add(entry);
    if (this.revalidations !== revalidationsAtOpen) entry.revalidate();
    bookmarkTimer = setInterval(() => {
      if (!bookmarks) return;
      void this.service.store.currentResourceVersion().then((rv) => {
        writeLine(`${JSON.stringify({ type: 'BOOKMARK', object: { apiVersion: def.group ? `${def.group}/${version}` : version, kind: def.kind, metadata: { resourceVersion: String(rv || lastRv) } } })}\n`);
      });
    }, this.bookmarkIntervalMs);
    bookmarkTimer.unref();
    timeoutTimer = setTimeout(() => entry.close(), timeoutSeconds * 1000);
    timeoutTimer.unref();
    ctx.req.on('close', () => entry.close());
    res.on('close', () => entry.close());
    await new Promise<void>((resolve) => res.on('close', resolve));
  }

  /**
   * What authentication or authorization read has changed (a binding, a role, a user, a session):
   * every open watch is checked again, and one its caller may no longer have ends, as a clean end
   * of stream (the client's next watch gets the 403). Events wait until the check is done.
   */
  revalidate(): void {
    this.revalidations++;
    for (const w of this.open) w.revalidate();
  }

  /**
   * Ends every open watch (shutdown): clients see a clean end of stream and re-watch. Resolves
   * once their clients have hung up, or after `graceMs`: a connection the server destroys at once
   * can take the stream's last chunk with it or reach the client as a reset, which client-node
   * reports as "Premature close" (seen on a loaded machine).
   */
  async closeAll(graceMs = 1000): Promise<void> {
    const sockets = [...this.open].map((w) => w.res.socket).filter((s) => s && !s.destroyed);
    for (const w of [...this.open]) w.close();
    if (!sockets.length) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(sockets.map((s) => new Promise((resolve) => s!.once('close', resolve)))),
      new Promise((resolve) => (timer = setTimeout(resolve, graceMs))),
    ]);
    clearTimeout(timer);
  }

  /** Ends the watches of kinds no longer served (a deleted CRD), as kube-apiserver does. */
  private closeUnserved = (): void => {
    for (const w of [...this.open]) {
      if (!this.service.kinds.byGroupResource(w.def.group, w.def.plural)) w.close();
    }
  };
}

/** Node's timers hold at most 2^31-1 ms (~24.8 days); a longer one fires at once. */
export const maxWatchTimeoutSeconds = Math.floor(0x7fffffff / 1000);

/**
 * A watch's `timeoutSeconds`: a non-negative integer, clamped to what a timer can hold; absent
 * or 0 means the server's default (as kube-apiserver treats 0).
 */
export function watchTimeoutOf(param: string | null, defaultSeconds: number): number {
  if (param === null || param === '') return Math.min(defaultSeconds, maxWatchTimeoutSeconds);
  if (!/^\d+$/.test(param)) throw badRequest(`timeoutSeconds must be a non-negative integer, got "${param}"`);
  const seconds = Number(param);
  return Math.min(seconds === 0 ? defaultSeconds : seconds, maxWatchTimeoutSeconds);
}
