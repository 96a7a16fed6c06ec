import cluster, { type Worker } from 'node:cluster';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DataPlaneView, TraceSelection } from './dataplane-view.js';
import { Endpoints, type Health } from './endpoints.js';
import type { CircuitBreakerSpec } from './types.js';
import type { MeshChange, MeshState } from './mesh-state.js';
import { Telemetry, type TelemetrySnapshot } from './telemetry.js';
import { SpanStore, type Span } from './tracing.js';

// The data plane on several cores: N worker processes (node:cluster) serve the one `dataplane`
// port, the backend's process handing each accepted connection to the next worker. The backend
// keeps the rules (its watches) and sends every change to every worker, so each routes by the
// same rules; the APIs ask every worker for its telemetry and spans and merge them, so they
// answer as with one process. Outlier detection is counted here, from every worker's outcomes: a
// failure is known to all workers before its caller is answered, so N workers eject an endpoint
// after the same failures as one process.

/** What the backend asks of a worker (each answered with a `reply`). */
export type WorkerQuery =
  | { what: 'telemetry'; seconds?: number }
  | { what: 'traceIds'; namespace: string }
  | { what: 'spans'; traceIds: string[] }
  /** An endpoint's health as the backend counted it, to use from now on. */
  | { what: 'health'; url: string; health: Health }
  /** Nothing: its reply says every message sent before it was handled (messages keep their order). */
  | { what: 'sync' };

/** Messages between the backend and its data-plane workers (both ways). */
export type WorkerMessage =
  | { type: 'init'; changes: MeshChange[] }
  | { type: 'change'; change: MeshChange }
  | { type: 'query'; id: number; query: WorkerQuery }
  | { type: 'reply'; id: number; result: unknown }
  /** From a worker: an endpoint answered (after failures) or failed; a failure's `id` wants a reply once all know. */
  | { type: 'outcome'; id?: number; url: string; failed: boolean; siblings?: string[]; breaker?: CircuitBreakerSpec }
  /** A worker's first message: its listener for the backend's messages is in place. */
  | { type: 'started' };

export interface DataPlaneClusterOptions {
  state: MeshState;
  workers: number;
  /** Spans kept in all (each worker keeps its share). */
  traceCapacity: number;
  log: (msg: string) => void;
  /** The worker's script (the compiled dataplane-worker.js beside this file by default). */
  workerEntry?: string;
  /** How long a query waits for a worker (a worker that does not answer is left out). */
  queryTimeoutMs?: number;
}

const here = dirname(fileURLToPath(import.meta.url));

export class DataPlaneCluster implements DataPlaneView {
  /** Workers that have said they listen for messages (a message sent earlier would be lost). */
  private readonly live = new Set<Worker>();
  /** Every endpoint's health, counted from all workers' outcomes. */
  private readonly health = new Endpoints();
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; timer: NodeJS.Timeout }>();
  private nextId = 0;
  private stopping = false;
  private rulesReady = false;
  /** Workers not listening yet. */
  private readonly listening = new Map<Worker, Promise<void>>();
  private address?: { port: number; host: string };

  constructor(private readonly o: DataPlaneClusterOptions) {
    o.state.onChange((change) => this.broadcast({ type: 'change', change }));
  }

  /**
   * Forks the workers at once: they load while the backend lists the rules (a worker takes
   * seconds to start on a busy machine). They listen when `listen` gives them the rules.
   */
  start(port: number, host = '127.0.0.1'): void {
    this.address = { port, host };
    cluster.setupPrimary({ exec: this.o.workerEntry ?? join(here, 'dataplane-worker.js'), serialization: 'advanced' });
    cluster.on('exit', (w, code, signal) => {
      this.live.delete(w);
      if (this.stopping) return;
      this.o.log(`data-plane worker ${w.process.pid} ended (${signal ?? `code ${code}`}); starting another`);
      this.fork();
    });
    for (let i = 0; i < this.o.workers; i++) this.fork();
  }

  /** The rules are complete: resolves with the data plane's URL once every worker listens. */
  async listen(port: number, host = '127.0.0.1'): Promise<string> {
    if (!this.address) this.start(port, host);
    this.rulesReady = true;
    for (const w of this.live) this.send(w, { type: 'init', changes: this.o.state.dump() });
    await Promise.all([...this.listening.values()]);
    return `http://${host}:${port}`;
  }

  private fork(): void {
    const { port, host } = this.address!;
    const w = cluster.fork({ MESH_DATAPLANE_WORKER: JSON.stringify({ port, host, workers: this.o.workers, traceCapacity: Math.max(100, Math.ceil(this.o.traceCapacity / this.o.workers)) }) });
    w.on('message', (m: WorkerMessage) => this.received(w, m));
    w.on('error', (e) => this.o.log(`data-plane worker ${w.process.pid}: ${e.message}`));
    const listening = new Promise<void>((resolve, reject) => {
      w.once('listening', () => resolve());
      w.once('exit', (code) => reject(new Error(`data-plane worker exited with code ${code} before listening`)));
    });
    listening.catch(() => undefined).finally(() => this.listening.delete(w));
    this.listening.set(w, listening);
  }

  private received(from: Worker, m: WorkerMessage): void {
    if (m.type === 'started') {
      // Messages arrive in order: the rules come before any change, and before it listens.
      this.live.add(from);
      if (this.rulesReady) this.send(from, { type: 'init', changes: this.o.state.dump() });
    } else if (m.type === 'reply') {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      clearTimeout(w.timer);
      w.resolve(m.result);
    } else if (m.type === 'outcome') {
      const health = { ...this.health.count(m.url, m.failed, m.siblings ?? [], m.breaker) };
      const told = this.ask({ what: 'health', url: m.url, health });
      if (m.id !== undefined) void told.then(() => this.send(from, { type: 'reply', id: m.id!, result: null }));
    }
  }

  /** Resolves once every worker has handled what was sent to it before (rule changes above all). */
  async synced(): Promise<void> {
    await this.ask({ what: 'sync' });
  }

  private send(w: Worker, m: WorkerMessage): void {
    if (!w.isConnected()) return;
    try {
      w.send(m);
    } catch {
      // It is going away: its exit starts another.
    }
  }

  private broadcast(m: WorkerMessage): void {
    for (const w of this.live) this.send(w, m);
  }

  /** Every worker's answer (those that did not answer in time are left out). */
  private async ask<T>(query: WorkerQuery): Promise<T[]> {
    const replies = [...this.live].filter((w) => w.isConnected()).map((w) => new Promise<T | undefined>((resolve) => {
      const id = ++this.nextId;
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve(undefined);
      }, this.o.queryTimeoutMs ?? 5000);
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, timer });
      this.send(w, { type: 'query', id, query });
    }));
    return (await Promise.all(replies)).filter((r): r is Awaited<T> => r !== undefined) as T[];
  }

  /** Each worker's own telemetry. */
  snapshots(seconds?: number): Promise<TelemetrySnapshot[]> {
    return this.ask<TelemetrySnapshot>({ what: 'telemetry', ...(seconds !== undefined ? { seconds } : {}) });
  }

  async telemetry(seconds?: number): Promise<Telemetry> {
    return Telemetry.merged(await this.snapshots(seconds));
  }

  endpoints(): Promise<Endpoints> {
    return Promise.resolve(this.health);
  }

  async traces(which: TraceSelection): Promise<SpanStore> {
    // A trace's hops may have been served by different workers: its ids first, then all its spans.
    const ids = 'traceIds' in which ? which.traceIds : [...new Set((await this.ask<string[]>({ what: 'traceIds', namespace: which.namespace })).flat())];
    if (ids.length === 0) return SpanStore.of([]);
    return SpanStore.of((await this.ask<Span[]>({ what: 'spans', traceIds: ids })).flat());
  }

  /** The worker processes' ids (the benchmark sums their CPU). */
  pids(): number[] {
    return [...this.live].map((w) => w.process.pid!).filter((p) => p !== undefined);
  }

  async close(): Promise<void> {
    this.stopping = true;
    await Promise.all(Object.values(cluster.workers ?? {}).map((w) => new Promise<void>((resolve) => {
      if (!w) return resolve();
      if (w.isDead()) return resolve();
      w.once('exit', () => resolve());
      w.kill('SIGTERM');
    })));
    this.live.clear();
  }
}
