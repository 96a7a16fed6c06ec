import { fork, type ChildProcess } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DataPlaneView, TraceSelection } from './dataplane-view.js';
import { Endpoints, type Health } from './endpoints.js';
import type { CircuitBreakerSpec } from './types.js';
import type { MeshChange, MeshState } from './mesh-state.js';
import { Telemetry, type TelemetrySnapshot } from './telemetry.js';
import { SpanStore, type Span } from './tracing.js';

// The data plane on several cores: N worker processes serve the one `dataplane` port. The
// backend's process accepts each connection (without reading from it) and hands it to the worker
// with the fewest open connections (node:cluster's round robin gives a burst of connections to
// whichever worker answers first, one worker often taking them all on a busy machine). The backend
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
  /** An endpoint's health in a cluster (namespace/service/version) as the backend counted it, to use from now on. */
  | { what: 'health'; cluster: string; url: string; health: Health }
  /** Nothing: its reply says every message sent before it was handled (messages keep their order). */
  | { what: 'sync' };

/** Messages between the backend and its data-plane workers (both ways). */
export type WorkerMessage =
  | { type: 'init'; changes: MeshChange[] }
  | { type: 'change'; change: MeshChange }
  | { type: 'query'; id: number; query: WorkerQuery }
  | { type: 'reply'; id: number; result: unknown }
  /** From a worker: an endpoint of a cluster answered (after failures) or failed; a failure's `id` wants a reply once all know. */
  | { type: 'outcome'; id?: number; cluster: string; url: string; failed: boolean; siblings?: string[]; breaker?: CircuitBreakerSpec }
  /** A worker's first message: its listener for the backend's messages is in place. */
  | { type: 'started' }
  /** From a worker: it has the rules and takes connections. */
  | { type: 'ready' }
  /** To a worker, with the socket: serve this connection. From a worker: one of its connections closed. */
  | { type: 'connection' }
  | { type: 'closed' };

interface Worker { child: ChildProcess; started: boolean; ready: boolean; connections: number }

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
  private readonly workers = new Set<Worker>();
  /** Every endpoint's health, counted from all workers' outcomes. */
  private readonly health = new Endpoints();
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; timer: NodeJS.Timeout }>();
  private nextId = 0;
  private stopping = false;
  private rulesReady = false;
  private server?: Server;
  private turn = 0;
  private readonly readyWaiters: Array<() => void> = [];

  constructor(private readonly o: DataPlaneClusterOptions) {
    o.state.onChange((change) => this.broadcast({ type: 'change', change }));
  }

  /** Workers that take messages (one sent before its 'started' would be lost). */
  private get live(): Worker[] {
    return [...this.workers].filter((w) => w.started && w.child.connected);
  }

  /** Starts the workers at once: they load while the backend lists the rules (seconds, on a busy machine). */
  start(): void {
    if (this.workers.size > 0) return;
    for (let i = 0; i < this.o.workers; i++) this.fork();
  }

  /** The rules are complete: once every worker has them, listens; resolves with the data plane's URL. */
  async listen(port: number, host = '127.0.0.1'): Promise<string> {
    this.start();
    this.rulesReady = true;
    for (const w of this.live) this.send(w, { type: 'init', changes: this.o.state.dump() });
    await new Promise<void>((resolve) => {
      if ([...this.workers].every((w) => w.ready)) resolve();
      else this.readyWaiters.push(resolve);
    });
    // Not read here: the worker reads it (pauseOnConnect).
    this.server = createServer({ pauseOnConnect: true, noDelay: true }, (socket) => this.handOff(socket));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => resolve());
    });
    return `http://${host}:${port}`;
  }

  /** To the ready worker with the fewest open connections (ties by turns). */
  private handOff(socket: Socket): void {
    const all = [...this.workers];
    let best: Worker | undefined;
    for (let i = 0; i < all.length; i++) {
      const w = all[(this.turn + i) % all.length]!;
      if (w.ready && w.child.connected && (!best || w.connections < best.connections)) best = w;
    }
    this.turn++;
    if (!best) {
      socket.destroy();
      return;
    }
    best.connections++;
    try {
      best.child.send({ type: 'connection' } satisfies WorkerMessage, socket);
    } catch {
      best.connections--;
      socket.destroy();
    }
  }

  private fork(): void {
    const child = fork(this.o.workerEntry ?? join(here, 'dataplane-worker.js'), [], {
      // The backend's own flags (the permission model's among them): the workers are confined as it is.
      execArgv: process.execArgv,
      serialization: 'advanced',
      env: { ...process.env, MESH_DATAPLANE_WORKER: JSON.stringify({ workers: this.o.workers, traceCapacity: Math.max(100, Math.ceil(this.o.traceCapacity / this.o.workers)) }) },
      // stdin too: the runtime's exit-with-the-core watch, if any, sees the core's end of it.
      stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    });
    const w: Worker = { child, started: false, ready: false, connections: 0 };
    this.workers.add(w);
    child.on('message', (m: WorkerMessage) => this.received(w, m));
    child.on('error', (e) => this.o.log(`data-plane worker ${child.pid}: ${e.message}`));
    child.once('exit', (code, signal) => {
      this.workers.delete(w);
      if (this.stopping) return;
      this.o.log(`data-plane worker ${child.pid} ended (${signal ?? `code ${code}`}); starting another`);
      this.fork();
    });
  }

  private received(from: Worker, m: WorkerMessage): void {
    if (m.type === 'started') {
      // Messages arrive in order: the rules come before any change.
      from.started = true;
      if (this.rulesReady) this.send(from, { type: 'init', changes: this.o.state.dump() });
      // A replacement worker starts with the ejections in force.
      for (const [cluster, url, health] of this.health.entries()) this.send(from, { type: 'query', id: 0, query: { what: 'health', cluster, url, health } });
    } else if (m.type === 'ready') {
      from.ready = true;
      if ([...this.workers].every((w) => w.ready)) for (const r of this.readyWaiters.splice(0)) r();
    } else if (m.type === 'closed') {
      from.connections--;
    } else if (m.type === 'reply') {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      clearTimeout(w.timer);
      w.resolve(m.result);
    } else if (m.type === 'outcome') {
      const health = { ...this.health.count(m.cluster, m.url, m.failed, m.siblings ?? [], m.breaker) };
      const told = this.ask({ what: 'health', cluster: m.cluster, url: m.url, health });
      if (m.id !== undefined) void told.then(() => this.send(from, { type: 'reply', id: m.id!, result: null }));
    }
  }

  /** Resolves once every worker has handled what was sent to it before (rule changes above all). */
  async synced(): Promise<void> {
    await this.ask({ what: 'sync' });
  }

  private send(w: Worker, m: WorkerMessage): void {
    if (!w.child.connected) return;
    try {
      w.child.send(m);
    } catch {
      // It is going away: its exit starts another.
    }
  }

  private broadcast(m: WorkerMessage): void {
    for (const w of this.live) this.send(w, m);
  }

  /** Every worker's answer (those that did not answer in time are left out). */
  private async ask<T>(query: WorkerQuery): Promise<T[]> {
    const replies = this.live.map((w) => new Promise<T | undefined>((resolve) => {
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

  /** The worker processes' ids, of those taking connections. */
  pids(): number[] {
    return [...this.workers].filter((w) => w.ready).map((w) => w.child.pid).filter((p): p is number => p !== undefined);
  }

  async close(): Promise<void> {
    this.stopping = true;
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    await Promise.all([...this.workers].map((w) => new Promise<void>((resolve) => {
      if (w.child.exitCode !== null || w.child.signalCode !== null) return resolve();
      w.child.once('exit', () => resolve());
      w.child.kill('SIGTERM');
    })));
    this.workers.clear();
  }
}
