import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { AuditLog } from '../audit/audit-log.js';
import type { Runtime } from '../runtime/runtime.js';
import { StoreError } from '../store/resource-store.js';
import type { SqliteStore } from '../store/sqlite-store.js';
import { isMessage, type StoreWrite, type ToPrimary, type ToWorker, type WireError } from './messages.js';

export interface ClusterPrimaryOptions {
  /** How many workers serve clients. */
  workers: number;
  /** The worker's entry module (worker-main.js). */
  exec: string;
  store: SqliteStore;
  audit: AuditLog;
  runtime: Runtime;
  registry: Registry;
  logger: Logger;
  /** How long a worker may take to take in an event before it is restarted (default 5 s). */
  ackTimeoutMs?: number;
}

interface Serving {
  worker: Worker;
  /** Sent 'listening': it takes requests, so writes wait for its acknowledgement. */
  serving: boolean;
  /** The newest resourceVersion it has handed to its watchers. */
  acked: number;
  /** The newest resourceVersion sent to it (a worker started after the last write has nothing to acknowledge). */
  sent: number;
  startedAt: number;
}

/**
 * The primary of a multi-process core: forks the serving workers (restarting any that exits),
 * makes the writes they ask for on the one SQLite store, sends every committed event to each of
 * them in resourceVersion order, records their audit events, tells them the backends' health, and
 * merges their metrics. A write is answered only once every serving worker has taken in its event,
 * so whatever a client wrote (a revoked session, a removed binding) is in force on every worker
 * when the client has its answer.
 */
export class ClusterPrimary {
  private readonly workers = new Map<number, Serving>();
  private readonly barriers: Array<{ rv: number; except: number; resolve: () => void }> = [];
  private readonly metricRequests = new Map<number, { resolve: (m: unknown) => void }>();
  private nextMetricsId = 1;
  private stopping = false;
  private primaryUrl?: string;
  private allListening?: (addr: { url: string; httpsUrl: string }) => void;
  private unsubscribe?: () => void;
  private restartDelayMs = 250;
  /** The newest resourceVersion sent to the workers. */
  private lastEvent = 0;
  private readonly onStatus = () => this.broadcast({ mortise: 'backends', backends: this.opts.runtime.list() });

  constructor(private readonly opts: ClusterPrimaryOptions) {}

  /** Forks the workers; resolves with the address they share once every one listens. */
  start(): Promise<{ url: string; httpsUrl: string }> {
    cluster.setupPrimary({ exec: this.opts.exec, args: [] });
    this.unsubscribe = this.opts.store.onCommit((event) => {
      this.lastEvent = Number(event.resourceVersion);
      for (const w of this.workers.values()) {
        w.sent = this.lastEvent;
        this.send(w.worker, { mortise: 'event', event });
      }
    });
    this.opts.runtime.on('status', this.onStatus);
    const listening = new Promise<{ url: string; httpsUrl: string }>((resolve) => (this.allListening = resolve));
    for (let i = 0; i < this.opts.workers; i++) this.fork();
    return listening;
  }

  /** Tells the workers where the primary's loopback listener is (for the primary routes). */
  setPrimaryUrl(url: string): void {
    this.primaryUrl = url;
    this.broadcast({ mortise: 'primary', url });
  }

  /** The pids of the serving workers (tests, logs). */
  pids(): number[] {
    return [...this.workers.values()].flatMap((w) => (w.worker.process.pid ? [w.worker.process.pid] : []));
  }

  /** `/metrics`: this process's registry and every worker's, merged (counters and histograms summed). */
  async metricsText(): Promise<string> {
    const own = await this.opts.registry.getMetricsAsJSON();
    const theirs = await Promise.all([...this.workers.values()].filter((w) => w.serving && w.worker.isConnected()).map((w) => this.workerMetrics(w.worker)));
    return AggregatorRegistry.aggregate([own, ...theirs.filter((m) => m !== undefined)] as Parameters<typeof AggregatorRegistry.aggregate>[0]).metrics();
  }

  /** Stops the workers (they finish their requests) and waits for them to exit. */
  async stop(timeoutMs = 15_000): Promise<void> {
    this.stopping = true;
    this.unsubscribe?.();
    this.opts.runtime.off('status', this.onStatus);
    const exits = [...this.workers.values()].map((w) => new Promise<void>((resolve) => {
      if (w.worker.isDead()) return resolve();
      w.worker.once('exit', () => resolve());
      w.worker.process.kill('SIGTERM');
    }));
    const deadline = setTimeout(() => {
      for (const w of this.workers.values()) if (!w.worker.isDead()) w.worker.process.kill('SIGKILL');
    }, timeoutMs);
    await Promise.all(exits);
    clearTimeout(deadline);
    for (const b of this.barriers.splice(0)) b.resolve();
  }

  private fork(): void {
    const worker = cluster.fork();
    const serving: Serving = { worker, serving: false, acked: 0, sent: 0, startedAt: Date.now() };
    this.workers.set(worker.id, serving);
    worker.on('message', (m: unknown) => {
      if (isMessage<ToPrimary>(m)) this.onMessage(serving, m);
    });
    worker.on('online', () => {
      if (this.primaryUrl) this.send(worker, { mortise: 'primary', url: this.primaryUrl });
      this.send(worker, { mortise: 'backends', backends: this.opts.runtime.list() });
    });
    worker.on('error', (e) => this.opts.logger.warn({ event: 'cluster.worker-error', worker: worker.id, err: e.message }, 'worker channel error'));
    worker.once('exit', (code, signal) => {
      this.workers.delete(worker.id);
      this.checkBarriers();
      if (this.stopping) return;
      // A worker that dies soon after starting waits longer each time (a crash at start-up must not spin).
      const quick = Date.now() - serving.startedAt < 10_000;
      this.restartDelayMs = quick ? Math.min(this.restartDelayMs * 2, 10_000) : 250;
      this.opts.logger.error({ event: 'cluster.worker-exited', worker: worker.id, pid: worker.process.pid, code, signal, restartInMs: this.restartDelayMs }, 'a serving worker exited; starting another');
      setTimeout(() => {
        if (!this.stopping) this.fork();
      }, this.restartDelayMs).unref();
    });
  }

  private onMessage(w: Serving, m: ToPrimary): void {
    switch (m.mortise) {
      case 'write':
        void this.write(w, m.id, m.write);
        return;
      case 'ack':
        w.acked = Math.max(w.acked, m.resourceVersion);
        this.checkBarriers();
        return;
      case 'audit':
        this.opts.audit.record(m.event);
        return;
      case 'listening':
        w.serving = true;
        this.opts.logger.info({ event: 'cluster.worker-listening', worker: w.worker.id, pid: w.worker.process.pid, url: m.url }, 'a serving worker listens');
        if ([...this.workers.values()].filter((x) => x.serving).length >= this.opts.workers) {
          this.allListening?.({ url: m.url, httpsUrl: m.httpsUrl });
          this.allListening = undefined;
        }
        return;
      case 'metrics':
        this.metricRequests.get(m.id)?.resolve(m.metrics);
        this.metricRequests.delete(m.id);
        return;
    }
  }

  private async write(w: Serving, id: number, write: StoreWrite): Promise<void> {
    const { store } = this.opts;
    let reply: ToWorker;
    try {
      let result: unknown;
      switch (write.op) {
        case 'create': result = await store.create(write.ref, write.obj); break;
        case 'update': result = await store.update(write.ref, write.obj, write.expectedResourceVersion); break;
        case 'delete': result = await store.delete(write.key, write.expectedResourceVersion); break;
        case 'deleteObject': result = await store.deleteObject(write.key, write.opts); break;
      }
      reply = { mortise: 'written', id, result };
    } catch (e) {
      reply = { mortise: 'written', id, error: wireError(e) };
    }
    // The asking worker has the events before this answer (one channel, in order); the others
    // must have taken them in before the client can send its next request to one of them.
    await this.barrier(this.lastEvent, w.worker.id);
    this.send(w.worker, reply);
  }

  private barrier(rv: number, except: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.evictLagging(rv, except), this.opts.ackTimeoutMs ?? 5_000);
      this.barriers.push({ rv, except, resolve: () => { clearTimeout(timer); resolve(); } });
      this.checkBarriers();
    });
  }

  /** Whether a serving worker has yet to take in events up to `rv` that were sent to it. */
  private lagging(w: Serving, rv: number, except: number): boolean {
    return w.serving && w.worker.id !== except && w.acked < Math.min(rv, w.sent) && !w.worker.isDead();
  }

  private checkBarriers(): void {
    for (let i = this.barriers.length - 1; i >= 0; i--) {
      const b = this.barriers[i]!;
      const waiting = [...this.workers.values()].some((w) => this.lagging(w, b.rv, b.except));
      if (waiting) continue;
      this.barriers.splice(i, 1);
      b.resolve();
    }
  }

  /** A worker that does not take in events is restarted: the guarantee above holds for whoever serves. */
  private evictLagging(rv: number, except: number): void {
    for (const w of this.workers.values()) {
      if (this.lagging(w, rv, except)) {
        this.opts.logger.error({ event: 'cluster.worker-lagging', worker: w.worker.id, pid: w.worker.process.pid, acked: w.acked, rv }, 'a worker did not take in store events in time; restarting it');
        w.serving = false;
        w.worker.process.kill('SIGKILL');
      }
    }
    this.checkBarriers();
  }

  private workerMetrics(worker: Worker): Promise<unknown> {
    const id = this.nextMetricsId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.metricRequests.delete(id);
        resolve(undefined);
      }, 2_000);
      this.metricRequests.set(id, { resolve: (m) => { clearTimeout(timer); resolve(m); } });
      this.send(worker, { mortise: 'metrics', id });
    });
  }

  private broadcast(message: ToWorker): void {
    for (const w of this.workers.values()) this.send(w.worker, message);
  }

  private send(worker: Worker, message: ToWorker): void {
    if (!worker.isConnected()) return;
    try {
      worker.send(message);
    } catch {
      // The worker is going away; its exit restarts it.
    }
  }
}

function wireError(e: unknown): WireError {
  if (e instanceof StoreError) return { reason: e.reason, message: e.message, oldestResourceVersion: e.oldestResourceVersion };
  return { message: (e as Error).message ?? String(e) };
}

